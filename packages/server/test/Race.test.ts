/**
 * Two approvers click at once: exactly one decision wins, the other is told who decided, and the gated call
 * runs exactly once (counted by an append-only file). Raced 20 rounds in one process, and 20 rounds across
 * two server processes that share a file run store (replicas behind a load balancer).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { decide, json, releaseAgent, startRun, startServer, until } from "./support.js"

const rounds = 20

const executionsOf = (file: string, runId: string) => readFileSync(file, "utf8").split("\n").filter((line) => line.startsWith(`${runId} `)).length

describe("two approvers at once", () => {
  it(`in one process: one winner, one clear refusal, one execution (${rounds} rounds)`, async () => {
    const executions = join(mkdtempSync(join(tmpdir(), "server-race-")), "executions.log")
    writeFileSync(executions, "")
    const server = await startServer({ "release-bot": releaseAgent({ executions }) })
    try {
      for (let round = 0; round < rounds; round++) {
        const { runId } = await startRun(server.url, "release-bot", `ship version=${round}.0.0`)
        const pending = (await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.pending[0]
        const results = await Promise.all([
          decide(server.url, runId, pending.approvalId, "alice", { approved: true }),
          decide(server.url, runId, pending.approvalId, "bob", { approved: round % 2 === 0, reason: "race" })
        ])
        const winners = results.filter((r) => r.status === 200)
        const losers = results.filter((r) => r.status !== 200)
        expect(winners).toHaveLength(1)
        expect(losers.map((r) => [r.status, r.body._tag])).toEqual([[409, "AlreadyDecided"]])
        expect(losers[0]!.body.decidedBy).toBe(winners[0]!.body.decidedBy)
        await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
        expect(executionsOf(executions, runId)).toBe(winners[0]!.body.approved ? 1 : 0)
      }
    } finally {
      await server.close()
    }
  })

  const replicas: Array<ChildProcess> = []
  afterAll(() => {
    for (const child of replicas) child.kill("SIGKILL")
  })

  const startReplica = (store: string, executions: string) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "support/replica.ts"), store, executions], {
        env: process.env,
        stdio: ["ignore", "pipe", "inherit"]
      })
      replicas.push(child)
      child.stdout!.setEncoding("utf8")
      child.stdout!.on("data", (line: string) => resolve(line.trim()))
      child.on("exit", (code) => reject(new Error(`replica exited with ${code}`)))
    })

  it(`across two server processes sharing a file store: one winner, one execution (${rounds} rounds)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "server-replicas-"))
    const executions = join(dir, "executions.log")
    writeFileSync(executions, "")
    const [a, b] = await Promise.all([startReplica(join(dir, "store"), executions), startReplica(join(dir, "store"), executions)])
    for (let round = 0; round < rounds; round++) {
      const { runId } = await startRun(a!, "release-bot", `ship version=${round}.1.0`)
      const pending = (await json(`${a}/api/runs/${runId}`, { who: "viewer" })).body.pending[0]
      const results = await Promise.all([
        decide(a!, runId, pending.approvalId, "alice", { approved: true }),
        decide(b!, runId, pending.approvalId, "bob", { approved: true })
      ])
      const winners = results.filter((r) => r.status === 200)
      expect(winners).toHaveLength(1)
      // The loser is told the approval was decided (or, when the winner finished first, that none is pending).
      for (const loser of results.filter((r) => r.status !== 200)) expect([409, 404]).toContain(loser.status)
      const home = results[0]!.status === 200 ? a! : b!
      await until(() => json(`${home}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
      expect(executionsOf(executions, runId)).toBe(1)
    }
  }, 120_000)
})

/**
 * Cross-process scenarios every engine must pass (SQLite, Postgres with one runner, a Postgres cluster).
 * Each process is a real `tsx process.ts` (see there); every model call and tool run is logged with its pid.
 */
import { Approval } from "@agentloop/core"
import { Schema } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { run, start, wasKilled } from "./spawn.js"

/** Per test: processes start slowly on a busy machine; the processes bound their own waits. */
export const TIMEOUT = 240_000

export type Engine = "sqlite" | "postgres" | "cluster"

export const dir = mkdtempSync(join(tmpdir(), "agentloop-durable-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Run ids unique to this test run: a Postgres database outlives it. */
export const unique = `${Date.now().toString(36)}${process.pid}`

export const encodeDecision = (decision: Approval.ApprovalDecision) => JSON.stringify(Schema.encodeSync(Approval.ApprovalDecision)(decision))
export const decodePending = (value: unknown) => Schema.decodeUnknownSync(Approval.PendingApproval)(value)
export const linesOf = (log: string) =>
  readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split(" "))

/** A decision outcome as `process.ts` prints it. */
export interface Outcome {
  readonly _tag: string
  readonly reason?: string
  readonly winner?: { readonly approved: boolean; readonly decidedBy?: string }
}

/** Exactly one of approve (alice) / deny (bob) won; the other was rejected naming the winner. */
export const expectOneWinner = (approve: Outcome, deny: Outcome) => {
  const winners = [approve, deny].filter((o) => o._tag === "Won")
  expect(winners, JSON.stringify({ approve, deny })).toHaveLength(1)
  const [loser, winner] = approve._tag === "Won" ? [deny, { approved: true, decidedBy: "alice" }] : [approve, { approved: false, decidedBy: "bob" }]
  expect(loser).toMatchObject({ _tag: "DecisionRejected", winner, reason: expect.stringContaining(`by ${winner.decidedBy}`) })
  return winner.approved
}

export const scenarios = (engine: Engine, target: (name: string) => string, env: Record<string, string> = {}) => {
  const id = (runId: string) => `${runId}-${engine}-${unique}`
  const proc = (name: string, runId: string, log: string, mode: string, extra: ReadonlyArray<string> = [], moreEnv: Record<string, string> = {}, as: string = engine) =>
    run([as, target(name), id(runId), log, mode, ...extra], { env: { ...env, ...moreEnv } })
  /** Starts the run in a process that exits once the run waits for approval; returns what is pending. */
  const startSuspended = async (name: string, runId: string, log: string) => {
    const first = await proc(name, runId, log, "start")
    expect(first.status, first.output).toBe(0)
    expect(first.result._tag).toBe("Suspended")
    return decodePending(first.result.pending[0])
  }

  it("suspend, exit, approve from a fresh process: completes without re-running finished steps", async () => {
    const log = join(dir, `${engine}-a.log`)
    const pending = await startSuspended("a", "run-a", log)
    const second = await proc("a", "run-a", log, "decide", [encodeDecision(Approval.approve(pending, { by: "fresh-process" }))])
    expect(second.status, second.output).toBe(0)
    expect(second.result).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: deployed 7.2" } })
    const lines = linesOf(log)
    const [pidA, pidB] = [lines[0]![0], lines.at(-1)![0]]
    expect(pidA).not.toBe(pidB)
    // Turn 1 ran once, in the first process; the second process ran only the tool and turn 2.
    expect(lines.map(([pid, what, arg]) => [pid === pidA ? "A" : "B", what, arg])).toEqual([
      ["A", "model", "1"],
      ["B", "tool", `${id("run-a")}:call-deploy`],
      ["B", "model", "2"]
    ])
  }, TIMEOUT)

  it("killed inside a tool call: a fresh process resumes, the tool sees the same idempotency key", async () => {
    const log = join(dir, `${engine}-b.log`)
    const pending = await startSuspended("b", "run-b", log)
    const crashed = await proc("b", "run-b", log, "crash", [encodeDecision(Approval.approve(pending))])
    expect(wasKilled(crashed), `${crashed.status} ${crashed.signal} ${crashed.output}`).toBe(true)
    const recovered = await proc("b", "run-b", log, "recover")
    expect(recovered.status, recovered.output).toBe(0)
    expect(recovered.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
    const tools = linesOf(log).filter(([, what]) => what === "tool")
    expect(tools).toHaveLength(2) // at least once: the interrupted call ran again
    expect(new Set(tools.map(([, , key]) => key))).toEqual(new Set([`${id("run-b")}:call-deploy`]))
    expect(tools[0]![0]).not.toBe(tools[1]![0])
    expect(linesOf(log).filter(([, what, turn]) => what === "model" && turn === "1")).toHaveLength(1)
  }, TIMEOUT)

  it("a provider that sends call_0 on every step: each step's call is asked for, approved and run", async () => {
    const log = join(dir, `${engine}-c.log`)
    const done = await proc("c", "run-c", log, "approve-all", [], { AGENT: "repeater" })
    expect(done.status, done.output).toBe(0)
    expect(done.result).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: deployed 7.1, deployed 7.2", steps: 3 } })
    const lines = linesOf(log)
    expect(lines.filter(([, what]) => what === "tool").map(([, , , version]) => version)).toEqual(["7.1", "7.2"])
    // Each call its own idempotency key: step 1's in the plain form, step 2's (a repeated id) with its step.
    expect(lines.filter(([, what]) => what === "tool").map(([, , key]) => key)).toEqual([`${id("run-c")}:call_0`, `${id("run-c")}:2:call_0`])
    expect(lines.filter(([, what]) => what === "model").map(([, , turn]) => turn)).toEqual(["1", "2", "3"])
  }, TIMEOUT)

  it("a decision from a process that does not run the agent: a typed error, or it is delivered (never a hang)", async () => {
    const log = join(dir, `${engine}-d.log`)
    const pending = await startSuspended("d", "run-d", log)
    // In a cluster, "elsewhere" is a `clientOnly` process (runners all run the same agents).
    const elsewhere = await proc("d", "run-d", log, "decide-elsewhere", [encodeDecision(Approval.approve(pending, { by: "api" }))], {}, engine === "cluster" ? "cluster-client" : engine)
    if (engine === "cluster") {
      // A cluster works from any process: the decision is stored in Postgres, and a runner delivers it.
      expect(elsewhere.status, elsewhere.output).toBe(0)
      const recovered = await proc("d", "run-d", log, "recover")
      expect(recovered.status, recovered.output).toBe(0)
      expect(recovered.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
    } else {
      // A single runner that does not run the agent could only hang: a typed error at once, nothing recorded.
      expect(elsewhere.status, elsewhere.output).toBe(2)
      expect(elsewhere.result.error).toMatchObject({ _tag: "EngineUnavailable", agent: "durable-deployer", operation: "decide" })
      const second = await proc("d", "run-d", log, "decide", [encodeDecision(Approval.approve(pending, { by: "api" }))])
      expect(second.status, second.output).toBe(0)
      expect(second.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
    }
    expect(linesOf(log).filter(([, what]) => what === "tool")).toHaveLength(1)
  }, TIMEOUT)

  it("decide SIGKILLed at every point inside it (before recording, between its two writes, after delivering): no decision is lost; every run completes with its tool run exactly once", async () => {
    const log = join(dir, `${engine}-k.log`)
    const made = await proc("k", "run-k", log, "suspend-many", ["4"])
    expect(made.status, made.output).toBe(0)
    const pending = (made.result as Array<unknown>).map(decodePending)
    // In a cluster the decider is a `clientOnly` process (no runner is up meanwhile); a single runner decides where it runs.
    const decider = engine === "cluster" ? "cluster-client" : engine
    const points = ["validated", "recorded", "delivered", "recorded"] as const
    const seen: Array<any> = []
    for (const [i, point] of points.entries()) {
      const killed = await run([decider, target("k"), pending[i]!.runId, log, "decide", encodeDecision(Approval.approve(pending[i]!, { by: "alice" }))], { env: { ...env, DIES_AT: point } })
      expect(wasKilled(killed), `${point}: ${killed.status} ${killed.signal} ${killed.output}`).toBe(true)
      seen.push(killed.result)
    }
    // As the decider saw the run where it died: before recording, still pending; after, decided and undelivered.
    expect(seen[0]).toMatchObject({ _tag: "Suspended", pending: [{ approvalId: pending[0]!.approvalId }], undelivered: [] })
    for (const i of [1, 3]) {
      expect(seen[i]).toMatchObject({ _tag: "Running", undelivered: [{ pending: { approvalId: pending[i]!.approvalId }, decision: { approved: true, decidedBy: "alice" } }] })
    }
    // A fresh process (a runner): alice decides run 0 again, bob (who was not first) run 1, alice repeats
    // herself on run 2, and nobody touches run 3: the runner delivers its recorded decision on its own.
    const file = join(dir, `${engine}-k-pending.json`)
    writeFileSync(file, JSON.stringify(made.result))
    const recovered = await proc("k", "run-k", log, "redecide", ["alice,bob,alice,-", file])
    expect(recovered.status, recovered.output).toBe(0)
    expect(recovered.result.outcomes).toEqual([
      { _tag: "Won" },
      expect.objectContaining({ _tag: "DecisionRejected", reason: "already decided: approved by alice", winner: { approved: true, decidedBy: "alice" } }),
      { _tag: "Won" },
      null
    ])
    for (const status of recovered.result.statuses) expect(status).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
    // Exactly once: each run's tool, and each of its two model turns.
    const lines = linesOf(log)
    expect(lines.filter(([, what]) => what === "tool").map(([, , key]) => key).sort()).toEqual(pending.map((p) => `${p.runId}:call-deploy`).sort())
    expect(lines.filter(([, what]) => what === "model").map(([, , turn]) => turn).sort()).toEqual(["1", "1", "1", "1", "2", "2", "2", "2"])
  }, TIMEOUT)

  it("20 rounds of approve (alice) vs deny (bob) at the same moment: exactly one wins, the other is told who did", async () => {
    const log = join(dir, `${engine}-e.log`)
    const raced = await proc("e", "run-e", log, "race", ["20"])
    expect(raced.status, raced.output).toBe(0)
    const rounds = raced.result as Array<{ runId: string; approve: Outcome; deny: Outcome; pendingAfter: Array<string>; final: { _tag: string; outcome: { text: string } } }>
    expect(rounds).toHaveLength(20)
    let approvals = 0
    for (const round of rounds) {
      const approved = expectOneWinner(round.approve, round.deny)
      if (approved) approvals++
      // The decided approval left the pending list with the decision.
      expect(round.pendingAfter).toEqual([])
      expect(round.final).toMatchObject({
        _tag: "Completed",
        outcome: { text: approved ? "Done: deployed 7.2" : "Done: Error: request to call tool denied. User reason: no" }
      })
    }
    // The tool ran once per approval that won, and never for a denial.
    expect(linesOf(log).filter(([, what]) => what === "tool")).toHaveLength(approvals)
  }, TIMEOUT)
}

/** Single-runner engines: one process per database; a crashed owner's successor is not refused. */
export const oneOwner = (engine: "sqlite" | "postgres", target: (name: string) => string) =>
  it("one owner per database: a second process is refused with DatabaseLocked, the next owner after a crash is not", async () => {
    const log = join(dir, `${engine}-owned.log`)
    const runId = `run-owned-${engine}-${unique}`
    const args = (mode: string, ...extra: Array<string>) => [engine, target("owned"), runId, log, mode, ...extra]
    const owner = start(args("hold"))
    try {
      await owner.ready
      const second = await run(args("start"))
      expect(second.status, second.output).toBe(2)
      expect(second.result.error).toMatchObject({ _tag: "DatabaseLocked", message: expect.stringContaining("in use by another process") })
      if (engine === "sqlite") expect(second.result.error.database).toBe(target("owned"))
      // It ran nothing.
      expect(() => linesOf(log)).toThrow()
    } finally {
      owner.kill("SIGKILL")
    }
    expect(wasKilled(await owner.exited)).toBe(true)
    // The dead owner's lock went with it: a new process owns the database and runs.
    const next = await run(args("start"))
    expect(next.status, next.output).toBe(0)
    expect(next.result._tag).toBe("Suspended")
    const done = await run(args("decide", encodeDecision(Approval.approve(decodePending(next.result.pending[0])))))
    expect(done.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
  }, TIMEOUT)

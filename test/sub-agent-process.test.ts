/**
 * Acceptance: a parent run suspended on its sub-agent's approval in one process is resumed by another
 * process with one decision; both runs continue from the file store. Processes are spawned asynchronously;
 * two resumes started together with the same decision: exactly one wins, and the gated tool runs once.
 */
import { Approval, RunState } from "@agentloop/core"
import { Schema } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const script = join(import.meta.dirname, "support", "sub-agent-process.ts")
const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx")
const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

const spawn = (...args: ReadonlyArray<string>) =>
  promisify(execFile)(tsx, [script, ...args], { encoding: "utf8", timeout: 90_000 }).then(
    ({ stdout }) => ({ ok: true as const, result: JSON.parse(stdout) as { outcome: unknown; ran: Array<string> } }),
    (error: { stderr?: string }) => ({ ok: false as const, stderr: error.stderr ?? String(error) })
  )

const suspendInProcessA = async (dir: string, runId: string) => {
  const first = await spawn("start", dir, runId)
  if (!first.ok) throw new Error(first.stderr)
  const suspended = Schema.decodeUnknownSync(RunState.Suspended)(first.result.outcome)
  expect(first.result.ran).toEqual([])
  expect(suspended.pending).toHaveLength(1)
  expect(suspended.pending[0]).toMatchObject({ toolName: "deploy", via: "call_release", toolCallId: "call_release/call_deploy" })
  // The parent's state and the sub-agent's are both in the store.
  expect(readdirSync(dir).filter((f) => f.endsWith(".json")).sort()).toEqual([`${runId}.call_release.json`, `${runId}.json`])
  const decision = Approval.approve(suspended.pending[0]!, { by: "process-b" })
  return JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))([decision]))
}

describe("sub-agent approval across processes (file store)", () => {
  it("process A suspends on the sub-agent's approval and exits; process B resumes the parent with the decision; both complete", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-subagent-"))
    dirs.push(dir)
    const decisions = await suspendInProcessA(dir, "sub-1")
    const second = await spawn("resume", dir, "sub-1", decisions)
    if (!second.ok) throw new Error(second.stderr)
    expect(second.result.outcome).toMatchObject({ _tag: "Completed", text: "4.2 is live." })
    expect(second.result.ran).toEqual(["deploy:4.2"])
    const child = JSON.parse(readFileSync(join(dir, "sub-1.call_release.json"), "utf8"))
    expect(child).toMatchObject({ status: "completed", agent: "release", outcome: { _tag: "Completed", text: "Deployed 4.2." } })
  }, 120_000)

  it("two processes resume with the same decision at once: exactly one wins and deploy runs once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-subagent-race-"))
    dirs.push(dir)
    const decisions = await suspendInProcessA(dir, "sub-race")
    const results = await Promise.all([spawn("resume", dir, "sub-race", decisions), spawn("resume", dir, "sub-race", decisions)])
    const winners = results.filter((r) => r.ok)
    expect(winners).toHaveLength(1)
    const loser = results.find((r) => !r.ok)
    expect(loser?.ok === false && loser.stderr).toMatch(/RunBusy|cannot be resumed|no approval is pending/)
    const log = readFileSync(join(dir, "ran.log"), "utf8").trim().split("\n")
    expect(log.map((line) => line.split(" ")[1])).toEqual(["deploy:4.2"])
  }, 120_000)
})

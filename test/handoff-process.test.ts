/**
 * A run suspended on an approval after a handoff, in one OS process, is resumed by another from the file
 * store and goes on with the agent it was handed to. Processes are spawned asynchronously; two resumes
 * started together: exactly one wins and the gated tool runs once.
 */
import { Approval, RunState } from "@agentloop/core"
import { Schema } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const script = join(import.meta.dirname, "support", "handoff-process.ts")
const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx")
const dirs: Array<string> = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

type Result = { outcome: unknown; ran: Array<string>; speakers: Array<string> }
const spawn = (...args: ReadonlyArray<string>) =>
  promisify(execFile)(tsx, [script, ...args], { encoding: "utf8", timeout: 90_000 }).then(
    ({ stdout }) => ({ ok: true as const, result: JSON.parse(stdout) as Result }),
    (error: { stderr?: string }) => ({ ok: false as const, stderr: error.stderr ?? String(error) })
  )

const suspendInProcessA = async (dir: string, runId: string) => {
  const first = await spawn("start", dir, runId)
  if (!first.ok) throw new Error(first.stderr)
  const suspended = Schema.decodeUnknownSync(RunState.Suspended)(first.result.outcome)
  expect(first.result.ran).toEqual(["lookup:42"])
  expect(first.result.speakers).toEqual(["RunStarted:triage", "StepStarted:triage", "StepStarted:triage", "StepStarted:billing"])
  expect(suspended.pending.map((p) => p.toolName)).toEqual(["refund"])
  expect(JSON.parse(readFileSync(join(dir, `${runId}.json`), "utf8"))).toMatchObject({ agent: "triage", currentAgent: "billing", status: "suspended" })
  const decision = Approval.approve(suspended.pending[0]!, { by: "process-b" })
  return JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))([decision]))
}

describe("handoff then approval, across processes (file store)", () => {
  it("process A suspends while billing speaks and exits; process B resumes with billing, which hands back to triage", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-handoff-"))
    dirs.push(dir)
    const decisions = await suspendInProcessA(dir, "h-1")
    const second = await spawn("resume", dir, "h-1", decisions)
    if (!second.ok) throw new Error(second.stderr)
    expect(second.result.outcome).toMatchObject({ _tag: "Completed", text: "Your refund of $30 is on its way. Anything else?" })
    expect(second.result.ran).toEqual(["refund:42:30"])
    expect(second.result.speakers).toEqual(["RunStarted:billing", "StepStarted:billing", "StepStarted:triage"])
    const stored = JSON.parse(readFileSync(join(dir, "h-1.json"), "utf8")) as Record<string, unknown>
    expect(stored).toMatchObject({ status: "completed", agent: "triage", handoffs: 2 })
    expect(stored.currentAgent).toBeUndefined()
  }, 120_000)

  it("two processes resume at once: exactly one wins and the refund runs once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentloop-handoff-race-"))
    dirs.push(dir)
    const decisions = await suspendInProcessA(dir, "h-race")
    const results = await Promise.all([spawn("resume", dir, "h-race", decisions), spawn("resume", dir, "h-race", decisions)])
    expect(results.filter((r) => r.ok)).toHaveLength(1)
    const loser = results.find((r) => !r.ok)
    expect(loser?.ok === false && loser.stderr).toMatch(/RunBusy|cannot be resumed|no approval is pending/)
    const log = readFileSync(join(dir, "ran.log"), "utf8").trim().split("\n")
    expect(log.map((line) => line.split(" ")[1])).toEqual(["lookup:42", "refund:42:30"])
  }, 120_000)
})

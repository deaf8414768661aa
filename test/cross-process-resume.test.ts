/**
 * Acceptance: a run suspended by one process is resumed by another. Both sides are real `tsx` processes
 * that share nothing but the file-system run store.
 */
import { Approval, RunState } from "@agentloop/core"
import { Schema } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const script = join(import.meta.dirname, "support", "approval-process.ts")
const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx")
const dir = mkdtempSync(join(tmpdir(), "agentloop-xproc-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs one side as its own process (asynchronously); rejects with its stderr if it fails. */
const exec = (...args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(tsx, [script, ...args], { encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`))
    )
  )

const runProcess = async (...args: ReadonlyArray<string>) =>
  JSON.parse(await exec(...args)) as {
    outcome: unknown
    ran: Array<string>
  }

describe("cross-process resume", () => {
  it("process A suspends and exits; process B approves and completes; the tool runs once, in B", async () => {
    const first = await runProcess("start", dir, "xproc-1")
    const suspended = Schema.decodeUnknownSync(RunState.Suspended)(first.outcome)
    expect(first.ran).toEqual([])
    expect(suspended.pending).toHaveLength(1)
    expect(readdirSync(dir)).toEqual(["xproc-1.json"])

    const decision = Approval.approve(suspended.pending[0]!, { by: "process-b" })
    const decisions = JSON.stringify(Schema.encodeSync(Schema.Array(Approval.ApprovalDecision))([decision]))
    const second = await runProcess("resume", dir, "xproc-1", decisions)
    expect(second.outcome).toMatchObject({ _tag: "Completed", text: "deployed 7.1" })
    expect(second.ran).toEqual(["7.1"])

    // A third process replaying the same decision is refused: the run is completed.
    await expect(exec("resume", dir, "xproc-1", decisions)).rejects.toThrow(/RunNotResumable|cannot be resumed/)
  }, 180_000)
})

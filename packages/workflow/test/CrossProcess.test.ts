/**
 * Acceptance: durable runs across processes on SQLite (the shared scenarios, see scenarios.ts), and one
 * owner per database file: a second process on the file is refused at start with `DatabaseLocked`.
 * Every process is spawned asynchronously.
 */
import { Approval } from "@agentloop/core"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { decodePending, dir, encodeDecision, linesOf, scenarios, TIMEOUT, unique } from "./scenarios.js"
import { run, start, wasKilled } from "./spawn.js"

describe("durable runs across processes: SQLite", () => {
  scenarios("sqlite", (name) => join(dir, `${name}.db`))

  it("one owner per database file: a second process is refused with DatabaseLocked, the next owner after a crash is not", async () => {
    const file = join(dir, "owned.db")
    const log = join(dir, "sqlite-owned.log")
    const runId = `run-owned-${unique}`
    const owner = start(["sqlite", file, runId, log, "hold"])
    await owner.ready
    const second = await run(["sqlite", file, runId, log, "start"])
    expect(second.status, second.output).toBe(2)
    expect(second.result.error).toMatchObject({ _tag: "DatabaseLocked", filename: file })
    expect(second.result.error.message).toContain("in use by another process")
    // It ran nothing.
    expect(() => linesOf(log)).toThrow()
    owner.kill("SIGKILL")
    expect(wasKilled(await owner.exited)).toBe(true)
    // The operating system released the dead owner's lock: a new process owns the file and runs.
    const next = await run(["sqlite", file, runId, log, "start"])
    expect(next.status, next.output).toBe(0)
    expect(next.result._tag).toBe("Suspended")
    const done = await run(["sqlite", file, runId, log, "decide", encodeDecision(Approval.approve(decodePending(next.result.pending[0])))])
    expect(done.result).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
  }, TIMEOUT)
})

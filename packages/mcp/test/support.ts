/** Shared helpers for the MCP tests: the fixture server, its event log, and bounded polling. */
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Mcp } from "@agentloop/mcp"
import { Effect, Schedule } from "effect"

export const fixturePath = fileURLToPath(new URL("./fixtures/stdio-server.mjs", import.meta.url))

/** A fresh log file for one fixture server (starts, calls, cancellations: one line each). */
export const fixtureLog = () => {
  const file = join(mkdtempSync(join(tmpdir(), "agentloop-mcp-")), "fixture.log")
  const lines = () => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line !== "") : [])
  return { file, lines }
}

export const fixtureConnection = (log: string, env: Record<string, string> = {}) =>
  Mcp.stdio(process.execPath, [fixturePath], { name: "fixture", env: { FIXTURE_LOG: log, ...env } })

/** Waits until `check` holds, re-checking every 20 ms (bounded by the test's timeout, not wall time). */
export const eventually = (check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail("not yet"))).pipe(Effect.retry(Schedule.spaced("20 millis")), Effect.orDie)

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

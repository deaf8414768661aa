/**
 * Acceptance: durable runs across processes, on SQLite (always) and Postgres (when a server can be reached).
 * - A run suspends for approval and its process exits; a fresh process approves and the run completes
 *   without re-running finished steps.
 * - A process killed inside a tool call: a fresh process resumes the run and the tool sees the same
 *   idempotency key.
 */
import { Approval } from "@agentloop/core"
import { Schema } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const script = join(import.meta.dirname, "process.ts")
const tsx = join(import.meta.dirname, "..", "..", "..", "node_modules", ".bin", "tsx")
const dir = mkdtempSync(join(tmpdir(), "agentloop-durable-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const encodeDecision = (decision: Approval.ApprovalDecision) => JSON.stringify(Schema.encodeSync(Approval.ApprovalDecision)(decision))

/** Run ids unique to this test run: a Postgres database outlives it. */
const unique = Date.now().toString(36)

export const scenarios = (engine: "sqlite" | "postgres" | "postgres-cluster", target: (name: string) => string) => {
  const id = (runId: string) => `${runId}-${engine}-${unique}`
  // Asynchronously: a synchronous spawn would block the test worker (and its reporting) for the whole run.
  const run = (name: string, runId: string, log: string, mode: string, extra: ReadonlyArray<string> = []) =>
    new Promise<{ status: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => {
      const child = spawn(tsx, [script, engine, target(name), id(runId), log, mode, ...extra], { stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      child.on("close", (status, signal) => {
        const marked = stdout.split("\n").find((line) => line.startsWith("RESULT "))
        resolve({ status, signal, out: marked === undefined ? "" : marked.slice("RESULT ".length), err: `${stderr}${stdout}` })
      })
    })
  const linesOf = (log: string) => readFileSync(log, "utf8").trim().split("\n").map((l) => l.split(" "))

  it("suspend, exit, approve from a fresh process: completes without re-running finished steps", async () => {
    const log = join(dir, `${engine}-a.log`)
    const first = await run("a", "run-a", log, "start")
    expect(first.status, first.err).toBe(0)
    const suspended = JSON.parse(first.out) as { _tag: string; pending: Array<unknown> }
    expect(suspended._tag).toBe("Suspended")
    const pending = Schema.decodeUnknownSync(Approval.PendingApproval)(suspended.pending[0])
    const second = await run("a", "run-a", log, "decide", [encodeDecision(Approval.approve(pending, { by: "fresh-process" }))])
    expect(second.status, second.err).toBe(0)
    expect(JSON.parse(second.out)).toMatchObject({ _tag: "Completed", outcome: { _tag: "Completed", text: "Done: deployed 7.2" } })
    const lines = linesOf(log)
    const [pidA, pidB] = [lines[0]![0], lines.at(-1)![0]]
    expect(pidA).not.toBe(pidB)
    // Turn 1 ran once, in the first process; the second process ran only the tool and turn 2.
    expect(lines.map(([pid, what, arg]) => [pid === pidA ? "A" : "B", what, arg])).toEqual([
      ["A", "model", "1"],
      ["B", "tool", `${id("run-a")}:call-deploy`],
      ["B", "model", "2"]
    ])
  }, 120_000)

  it("killed inside a tool call: a fresh process resumes, the tool sees the same idempotency key", async () => {
    const log = join(dir, `${engine}-b.log`)
    const first = await run("b", "run-b", log, "start")
    expect(first.status, first.err).toBe(0)
    const pending = Schema.decodeUnknownSync(Approval.PendingApproval)((JSON.parse(first.out) as { pending: Array<unknown> }).pending[0])
    const crashed = await run("b", "run-b", log, "crash", [encodeDecision(Approval.approve(pending))])
    // tsx runs node as a child and reports its SIGKILL as status 137 (128 + 9).
    expect(crashed.signal === "SIGKILL" || crashed.status === 137, `${crashed.status} ${crashed.signal} ${crashed.err}`).toBe(true)
    const recovered = await run("b", "run-b", log, "recover")
    expect(recovered.status, recovered.err).toBe(0)
    expect(JSON.parse(recovered.out)).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
    const tools = linesOf(log).filter(([, what]) => what === "tool")
    expect(tools).toHaveLength(2) // at least once: the interrupted call ran again
    expect(new Set(tools.map(([, , key]) => key))).toEqual(new Set([`${id("run-b")}:call-deploy`]))
    expect(tools[0]![0]).not.toBe(tools[1]![0])
    expect(linesOf(log).filter(([, what, turn]) => what === "model" && turn === "1")).toHaveLength(1)
  }, 180_000)
}

describe("durable runs across processes: SQLite", () => {
  scenarios("sqlite", (name) => join(dir, `${name}.db`))
})

/**
 * Postgres: `.ci/run` installs Debian's postgresql and starts it on loopback, and sets AGENTLOOP_TEST_PG_URL.
 * Without a server that accepts connections these tests are skipped, and say so.
 */
const pgUrl = process.env["AGENTLOOP_TEST_PG_URL"] ?? "postgres://postgres:agentloop@127.0.0.1:5432/agentloop_test"
const pgReachable = (() => {
  const { hostname, port } = new URL(pgUrl)
  const probe = spawnSync(
    process.execPath,
    ["-e", `require("net").connect(${Number(port || 5432)}, ${JSON.stringify(hostname)}).on("connect", () => process.exit(0)).on("error", () => process.exit(1))`],
    { timeout: 5_000 }
  )
  return probe.status === 0
})()
if (!pgReachable) {
  console.warn(`Skipping the Postgres durable tests: no PostgreSQL server accepts connections at ${new URL(pgUrl).host} (set AGENTLOOP_TEST_PG_URL, or run .ci/run, which installs and starts one).`)
}

describe.skipIf(!pgReachable)("durable runs across processes: Postgres", () => {
  scenarios("postgres", () => pgUrl)
})

describe.skipIf(!pgReachable)("durable runs across processes: a Postgres cluster of socket runners", () => {
  scenarios("postgres-cluster", () => pgUrl)
})

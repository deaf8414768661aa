/**
 * Failover in a Postgres cluster of two socket runners, measured (not a timed test):
 *
 * - crash: the runner running a tool call is SIGKILLed; how long until the other runner runs the call again
 *   (the detection delay a run sees);
 * - pause: the runner running a tool call is SIGSTOPped for a while, then SIGCONTed; does it keep its run
 *   (the call ran once), or did the other runner take it over (a false takeover: the call ran twice)?
 *
 *   AGENTLOOP_TEST_PG_URL=postgres://… pnpm bench:failover [failoverAfter in seconds, default 9] [trials, default 3] [pauses as fractions of it…]
 *
 * CRASH_TRIALS=<n> sets the crash trials apart from the pause trials; FAILOVER_DEBUG=1 prints the runners'
 * output after a takeover.
 *
 * Each trial gets a database of its own (dropped after), so a dead runner of one trial never stalls the next.
 * The runners are the cross-process tests' `process.ts`; the numbers are in docs/durable.md.
 */
import { readFileSync } from "node:fs"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createDatabase, dropDatabase, pgReachable } from "../packages/workflow/test/postgres.js"
import { freePort, run, start, stopAll, waitFor } from "../packages/workflow/test/spawn.js"

const [failoverArg, trialsArg, ...pauseArgs] = process.argv.slice(2)
const failoverAfter = Number(failoverArg ?? 9)
const trials = Number(trialsArg ?? 3)
/** Pauses as fractions of failoverAfter. */
const pauses = pauseArgs.length > 0 ? pauseArgs.map(Number) : [0.5, 0.8, 0.95]

// The runners are TypeScript run from the workspace's sources (as under vitest, see vitest.config.ts).
if (!(process.env["NODE_OPTIONS"] ?? "").includes("--conditions=@agentloop/source")) {
  process.env["NODE_OPTIONS"] = `${process.env["NODE_OPTIONS"] ?? ""} --conditions=@agentloop/source`.trim()
}

if (!pgReachable) {
  console.error("No PostgreSQL server: set AGENTLOOP_TEST_PG_URL")
  process.exit(1)
}

const dir = mkdtempSync(join(tmpdir(), "agentloop-failover-"))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const toolLines = (log: string) => {
  try {
    return readFileSync(log, "utf8").trim().split("\n").map((l) => l.split(" ")).filter(([, what]) => what === "tool")
  } catch {
    return []
  }
}

interface Outcome {
  readonly kind: string
  readonly delayMs?: number
  readonly toolRuns: number
  readonly completed: boolean
}

const trial = async (n: number, kind: "crash" | number): Promise<Outcome> => {
  const name = `agentloop_failover_${process.pid}_${n}`
  const url = await createDatabase(name)
  const log = join(dir, `${n}.log`)
  const runId = `failover-${n}`
  const env = { FAILOVER: `${failoverAfter} seconds`, ...(kind === "crash" ? { FIRST_ATTEMPT_DIES: "1" } : { FIRST_ATTEMPT_SLOW: "2000" }) }
  const ports = [await freePort(), await freePort()]
  const runners = ports.map((port) => start(["cluster", url, runId, log, "hold"], { env: { ...env, PORT: String(port) }, timeoutMs: 600_000 }))
  const exitedAt = new Map<number, number>()
  runners.forEach((r) => void r.exited.then(() => exitedAt.set(r.pid, Date.now())))
  try {
    await Promise.all(runners.map((r) => r.ready))
    const driven = run(["cluster-client", url, runId, log, "drive"], { env: { FAILOVER: env.FAILOVER }, timeoutMs: 600_000 })
    const first = await waitFor(() => toolLines(log)[0], 120_000)
    if (first === undefined) throw new Error("the tool never ran")
    const pid = Number(first[0])
    if (kind === "crash") {
      const killedAt = await waitFor(() => exitedAt.get(pid), 10_000)
      const again = await waitFor(() => (toolLines(log).length > 1 ? Date.now() : undefined), 300_000)
      const done = await driven
      return { kind: "crash", delayMs: again !== undefined && killedAt !== undefined ? again - killedAt : -1, toolRuns: toolLines(log).length, completed: done.result?._tag === "Completed" }
    }
    process.kill(pid, "SIGSTOP")
    await sleep(kind * failoverAfter * 1000)
    process.kill(pid, "SIGCONT")
    const done = await driven
    const toolRuns = toolLines(log).length
    if (toolRuns > 1 && process.env["FAILOVER_DEBUG"] !== undefined) {
      runners.forEach((r) => r.kill("SIGKILL"))
      const outputs = await Promise.all(runners.map((r) => r.exited))
      console.error(`--- takeover in trial ${n}: paused ${pid}; log:\n${readFileSync(log, "utf8")}`)
      outputs.forEach((o, i) => console.error(`--- runner ${runners[i]!.pid}:\n${o.output}`))
    }
    return { kind: `pause ${kind}×`, toolRuns, completed: done.result?._tag === "Completed" }
  } finally {
    await stopAll(runners, "SIGKILL")
    await dropDatabase(name)
  }
}

let n = 0
const results: Array<Outcome> = []
const crashTrials = Number(process.env["CRASH_TRIALS"] ?? trials)
for (const kind of ["crash" as const, ...pauses]) {
  for (let i = 0; i < (kind === "crash" ? crashTrials : trials); i++) {
    const outcome = await trial(n++, kind)
    results.push(outcome)
    console.log(JSON.stringify({ failoverAfter, ...outcome }))
  }
}
const crashes = results.filter((r) => r.kind === "crash" && r.delayMs !== undefined && r.delayMs >= 0).map((r) => r.delayMs!)
console.log(
  JSON.stringify({
    failoverAfter,
    crashDelayMs: { min: Math.min(...crashes), max: Math.max(...crashes), mean: Math.round(crashes.reduce((a, b) => a + b, 0) / crashes.length) },
    pauses: pauses.map((p) => ({ pause: p, takeovers: results.filter((r) => r.kind === `pause ${p}×` && r.toolRuns > 1).length, of: trials }))
  })
)
rmSync(dir, { recursive: true, force: true })

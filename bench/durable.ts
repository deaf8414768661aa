/**
 * Durable throughput: N runs (default 1,000) of the bench agent (`durable-agent.ts`: 3 tool steps, 4 model
 * steps each), started at once, on each engine: in memory, SQLite (a file), Postgres with one runner, and a
 * Postgres cluster of 1, 2 and 4 runner processes (`durable-runner.ts`, started one by one, then 10 s for the
 * shards to settle) driven by a `clientOnly` process.
 * Each run is started and awaited with the workflow's `execute` (it returns once the run has completed);
 * runs/s = N / the time from the first start to the last completion. Exactly-once is checked after each
 * engine: every tool call ran exactly once (each idempotency key seen once) and every run completed.
 *
 *   pnpm bench:durable [runs] [engines: memory,sqlite,postgres,cluster1,cluster2,cluster4]
 *
 * FAILOVER=<duration> sets the cluster runners' `failoverAfter`. Postgres comes from AGENTLOOP_TEST_PG_URL (each
 * engine gets a fresh database, dropped after). Not a timed
 * test: the numbers and the machine they were measured on are in docs/durable.md.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawn } from "node:child_process"
import { Message } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { Effect, Layer, Redacted, References } from "effect"
import { agent, handlers, model, STEPS } from "./durable-agent.js"
import { createDatabase, dropDatabase, pgReachable } from "../packages/workflow/test/postgres.js"
import { freePort } from "../packages/workflow/test/spawn.js"

const [runsArg, enginesArg] = process.argv.slice(2)
const runs = Number(runsArg ?? 1000)
const engines = (enginesArg ?? "memory,sqlite,postgres,cluster1,cluster2,cluster4").split(",")
const dir = mkdtempSync(join(tmpdir(), "agentloop-durable-bench-"))
const tag = `${process.pid}${Date.now().toString(36)}`

interface Measured {
  readonly engine: string
  readonly runs: number
  readonly seconds: number
  readonly runsPerSecond: number
  readonly exactlyOnce: boolean
  /** Tool executions beyond one per call (0 when exactly once). */
  readonly duplicates: number
  /** CPU time of this process (the driver, for a cluster) while it ran. */
  readonly cpuSeconds: number
}

interface Driven {
  readonly seconds: number
  readonly completed: number
  readonly cpuSeconds: number
}

/** Starts every run at once and waits for each to complete; checks each completed. */
const drive = (prefix: string) =>
  Effect.gen(function* () {
    const workflow = Durable.workflowFor(agent)
    const started = performance.now()
    const cpu = process.cpuUsage()
    const results = yield* Effect.forEach(
      Array.from({ length: runs }, (_, i) => `${prefix}-${i}`),
      (runId) => workflow.execute({ runId, input: [Message.user("go")] }),
      { concurrency: "unbounded" }
    )
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const completed = results.filter((r) => r._tag === "Completed" && r.text === "done").length
    return { seconds, completed, cpuSeconds: (used.user + used.system) / 1e6 }
  })

/** Every key seen exactly once, and as many keys as tool calls; how many executions were extra. */
const exactlyOnce = (completed: number, keys: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1)
  const duplicates = keys.length - counts.size
  return { exactlyOnce: completed === runs && counts.size === runs * STEPS && duplicates === 0, duplicates }
}

const inProcess = async (engine: string, engineLayer: Layer.Layer<any, unknown>): Promise<Measured> => {
  const keys: Array<string> = []
  const layer = Durable.layer(agent).pipe(Layer.provide(Layer.merge(model, handlers((key) => void keys.push(key)))), Layer.provideMerge(engineLayer))
  const { seconds, completed, cpuSeconds } = await Effect.runPromise(
    Effect.scoped(Effect.provide(drive(`${engine}-${tag}`), layer)).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")) as Effect.Effect<Driven>
  )
  return { engine, runs, seconds, runsPerSecond: Math.round(runs / seconds), ...exactlyOnce(completed, keys), cpuSeconds }
}

const startRunner = (url: string, port: number, log: string) =>
  new Promise<() => Promise<void>>((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@agentloop/source", "--import", "tsx", join(import.meta.dirname, "durable-runner.ts"), url, String(port), log], {
      env: process.env,
      stdio: ["ignore", "pipe", "inherit"]
    })
    const exited = new Promise<void>((done) => child.on("close", () => done()))
    child.on("exit", () => reject(new Error("runner exited before READY")))
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      if (out.includes("READY\n")) resolve(() => (child.kill("SIGKILL"), exited))
    })
  })

const cluster = async (size: number): Promise<Measured> => {
  const engine = `cluster${size}`
  const name = `agentloop_bench_${engine}_${tag}`
  const url = await createDatabase(name)
  const log = join(dir, `${engine}.log`)
  const stops: Array<() => Promise<void>> = []
  try {
    // One at a time: the first creates the tables.
    for (let i = 0; i < size; i++) stops.push(await startRunner(url, await freePort(), log))
    // Let the shards settle on the runners first (assignments refresh every 3 s): a shard that moves while
    // its runs are active cuts off their tool calls, which then run again on the new owner (at least once).
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    const driver = Durable.layerPostgresCluster({ url: Redacted.make(url), clientOnly: true })
    const { seconds, completed, cpuSeconds } = await Effect.runPromise(
      Effect.scoped(Effect.provide(drive(`${engine}-${tag}`), driver)).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")) as Effect.Effect<Driven>
    )
    const keys = readFileSync(log, "utf8").trim().split("\n")
    return { engine, runs, seconds, runsPerSecond: Math.round(runs / seconds), ...exactlyOnce(completed, keys), cpuSeconds }
  } finally {
    await Promise.all(stops.map((stop) => stop()))
    await dropDatabase(name)
  }
}

const measure = async (engine: string): Promise<Measured> => {
  switch (engine) {
    case "memory":
      return inProcess(engine, Durable.layerMemory)
    case "sqlite":
      return inProcess(engine, Durable.layerSqlite({ filename: join(dir, "bench.db") }))
    case "postgres": {
      const name = `agentloop_bench_pg_${tag}`
      const url = await createDatabase(name)
      try {
        return await inProcess(engine, Durable.layerPostgres({ url: Redacted.make(url) }))
      } finally {
        await dropDatabase(name)
      }
    }
    default:
      return cluster(Number(engine.slice("cluster".length)))
  }
}

const results: Array<Measured> = []
for (const engine of engines) {
  if (engine !== "memory" && engine !== "sqlite" && !pgReachable) {
    console.log(`${engine}: skipped (no PostgreSQL server; set AGENTLOOP_TEST_PG_URL)`)
    continue
  }
  const measured = await measure(engine)
  results.push(measured)
  console.log(JSON.stringify(measured))
}
console.table(results)
rmSync(dir, { recursive: true, force: true })
process.exit(results.every((r) => r.exactlyOnce) ? 0 : 1)

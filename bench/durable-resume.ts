/**
 * Resuming suspended runs from a fresh process: N runs (default 100) of an agent whose one tool needs
 * approval are started and left suspended by one process, which then exits; a fresh process opens the same
 * database, approves every run at once and waits until each has completed (its tool ran, the model answered).
 *
 *   pnpm bench:resume [runs] [engines: sqlite,postgres]
 *
 * Reported per engine: `openSeconds`, the fresh process's time to open the engine (`Durable.layer` built on
 * it); `decideSeconds`, until every `decide` has returned; `seconds` and `runsPerSecond`, from the first
 * `decide` to the last run completed (the runs are polled one after another, so polling adds at most one
 * read at a time); exactly-once (each approved tool ran once). Postgres comes from AGENTLOOP_TEST_PG_URL (a fresh database, dropped after). Not a timed test:
 * the numbers are in docs/durable.md, "Throughput".
 */
import { spawn } from "node:child_process"
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Agent, Approval, LanguageModel, Message, Tool, Toolkit } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { Effect, Layer, Redacted, References, Schema, Stream } from "effect"
import { createDatabase, dropDatabase, pgReachable } from "../packages/workflow/test/postgres.js"

const Release = Tool.make("release", { description: "Release a version.", parameters: { version: Schema.String }, success: Schema.String, requiresApproval: true })
const toolkit = Toolkit.make(Release)
const agent = Agent.make({ name: "bench-durable-resume", toolkit })
const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })

/** Step 1 asks to release (the run suspends on its approval); step 2 answers. */
const model = Layer.succeed(LanguageModel.LanguageModel, {
  streamStep: (request: LanguageModel.ModelRequest) =>
    Stream.fromIterable(
      request.messages.some((m) => m._tag === "ToolMessage")
        ? [LanguageModel.textDelta("released"), LanguageModel.finish("stop", usage)]
        : [LanguageModel.toolCall({ id: "call-release", name: "release", arguments: '{"version":"7.2"}' }), LanguageModel.finish("tool_calls", usage)]
    )
})

type Engine = "sqlite" | "postgres"

const engineLayer = (engine: Engine, where: string) =>
  engine === "sqlite" ? Durable.layerSqlite({ filename: where }) : Durable.layerPostgres({ url: Redacted.make(where) })

const layerFor = (engine: Engine, where: string, log: string) =>
  Durable.layer(agent).pipe(
    Layer.provide(Layer.merge(model, toolkit.toLayer({ release: ({ version }, ctx) => Effect.sync(() => (appendFileSync(log, `${ctx.idempotencyKey}\n`), `released ${version}`)) }))),
    Layer.provideMerge(engineLayer(engine, where))
  )

const runIds = (runs: number) => Array.from({ length: runs }, (_, i) => `resume-${i}`)

/** The first process: starts every run and waits until each is suspended on its approval. */
const suspend = (engine: Engine, where: string, log: string, runs: number) =>
  Effect.forEach(
    runIds(runs),
    (runId) => Effect.andThen(Durable.start(agent, { runId, input: "release 7.2" }), Durable.awaitSettled(agent, runId, { every: "200 millis", timeout: "120 seconds" })),
    { concurrency: "unbounded", discard: true }
  ).pipe(Effect.provide(layerFor(engine, where, log)))

/** The fresh process: opens the engine, approves every run at once, waits for all to complete. */
const resume = (engine: Engine, where: string, log: string, runs: number) =>
  Effect.gen(function* () {
    const opening = performance.now()
    const context = yield* Layer.build(layerFor(engine, where, log))
    const opened = performance.now()
    return yield* Effect.gen(function* () {
      const ids = runIds(runs)
      const pending = yield* Effect.forEach(ids, (runId) =>
        Effect.map(Durable.status(agent, runId), (s) => {
          if (s._tag !== "Suspended") throw new Error(`${runId} is ${s._tag}, not Suspended`)
          return s.pending[0]!
        })
      )
      const started = performance.now()
      yield* Effect.forEach(pending, (p) => Durable.decide(agent, p.runId, Approval.approve(p, { by: "bench" }), { timeout: "120 seconds" }), {
        concurrency: "unbounded",
        discard: true
      })
      const decided = performance.now()
      let open = ids
      let completed = 0
      while (open.length > 0) {
        const still: Array<string> = []
        for (const runId of open) {
          const s = yield* Durable.status(agent, runId)
          if (s._tag === "Completed") completed += s.outcome._tag === "Completed" && s.outcome.text === "released" ? 1 : 0
          else if (s._tag === "Failed") throw new Error(`${runId} failed: ${JSON.stringify(s.error)}`)
          else still.push(runId)
        }
        open = still
        if (open.length > 0) yield* Effect.sleep("10 millis")
      }
      const seconds = (performance.now() - started) / 1000
      const decideSeconds = (decided - started) / 1000
      return { openSeconds: Math.round(opened - opening) / 1000, decideSeconds: Math.round(decideSeconds * 1000) / 1000, seconds: Math.round(seconds * 1000) / 1000, completed }
    }).pipe(Effect.provide(context))
  }).pipe(Effect.scoped)

const quiet = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))

const [mode, ...args] = process.argv.slice(2)
if (mode === "suspend" || mode === "resume") {
  const [engine, where, log, runs] = args as [Engine, string, string, string]
  const result = await quiet(mode === "suspend" ? Effect.as(suspend(engine, where, log, Number(runs)), {}) : resume(engine, where, log, Number(runs)))
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}

/** Runs this file in a fresh process; its last line of output is JSON. */
const child = (argv: ReadonlyArray<string>) =>
  new Promise<any>((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, import.meta.filename, ...argv], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    proc.on("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!)) : reject(new Error(`${argv[0]} exited with ${code}: ${out}`))))
  })

const runs = Number(mode ?? 100)
const engines = (args[0] ?? "sqlite,postgres").split(",") as Array<Engine>
const dir = mkdtempSync(join(tmpdir(), "agentloop-resume-bench-"))
const tag = `${process.pid}${Date.now().toString(36)}`
const results = []
for (const engine of engines) {
  if (engine === "postgres" && !pgReachable) {
    console.log("postgres: skipped (no PostgreSQL server; set AGENTLOOP_TEST_PG_URL)")
    continue
  }
  const name = `agentloop_bench_resume_${tag}`
  const where = engine === "sqlite" ? join(dir, `${engine}.db`) : await createDatabase(name)
  const log = join(dir, `${engine}.log`)
  try {
    await child(["suspend", engine, where, log, String(runs)])
    const { openSeconds, decideSeconds, seconds, completed } = await child(["resume", engine, where, log, String(runs)])
    const keys = readFileSync(log, "utf8").trim().split("\n")
    const exactlyOnce = completed === runs && keys.length === runs && new Set(keys).size === runs
    const measured = { engine, runs, openSeconds, decideSeconds, seconds, runsPerSecond: Math.round(runs / seconds), exactlyOnce }
    results.push(measured)
    console.log(JSON.stringify(measured))
  } finally {
    if (engine === "postgres") await dropDatabase(name)
  }
}
console.table(results)
rmSync(dir, { recursive: true, force: true })
process.exit(results.every((r) => r.exactlyOnce) ? 0 : 1)

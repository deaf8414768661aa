/**
 * The single-runner engine of `layerSqlite` / `layerPostgres` (internal/sqlEngine.ts), in one process on a
 * SQLite file: what a fresh runtime on the file finds, and one run per run id however many callers start it.
 * Across processes (SIGKILL, restarts) see CrossProcess.test.ts and the other *Process tests.
 */
import { Approval } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { agent, handlers, model } from "./fixtures.js"

const dir = mkdtempSync(join(tmpdir(), "agentloop-sqlengine-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const runtime = (filename: string, onTool: (key: string) => Effect.Effect<void>, modelCalls: Array<number>) =>
  Durable.layer(agent).pipe(
    Layer.provideMerge(Durable.layerSqlite({ filename, pollInterval: "200 millis" })),
    Layer.provide(Layer.merge(model((turn) => void modelCalls.push(turn)), handlers(onTool)))
  )

describe("the single-runner SQL engine (SQLite, one process)", () => {
  it.live("20 starts of one run id at the same moment are one run; starting it again once complete changes nothing", () => {
    const modelCalls: Array<number> = []
    const toolRuns: Array<string> = []
    return Effect.gen(function* () {
      yield* Effect.all(Array.from({ length: 20 }, () => Durable.start(agent, { runId: "same", input: "ship 7.2" })), { concurrency: "unbounded" })
      const waiting = yield* Durable.awaitSettled(agent, "same")
      if (waiting._tag !== "Suspended") throw new Error(`expected Suspended, got ${JSON.stringify(waiting)}`)
      expect(waiting.pending).toHaveLength(1)
      yield* Durable.decide(agent, "same", Approval.approve(waiting.pending[0]!))
      expect(yield* Durable.awaitSettled(agent, "same")).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      yield* Durable.start(agent, { runId: "same", input: "ship 7.2" })
      expect(yield* Durable.awaitSettled(agent, "same")).toMatchObject({ _tag: "Completed" })
      expect(modelCalls).toEqual([1, 2])
      expect(toolRuns).toEqual(["same:call-deploy"])
    }).pipe(Effect.provide(runtime(join(dir, "same.db"), (key) => Effect.sync(() => void toolRuns.push(key)), modelCalls)))
  })

  it.live("a run cut off by its runtime's shutdown is run again by the next runtime on the file (the cut-off call again, same key)", () => {
    const filename = join(dir, "restart.db")
    const modelCalls: Array<number> = []
    const toolRuns: Array<string> = []
    return Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      // The first runtime: the tool starts, then the runtime shuts down while it runs.
      yield* Effect.gen(function* () {
        yield* Durable.start(agent, { runId: "cut", input: "ship 7.2" })
        const waiting = yield* Durable.awaitSettled(agent, "cut")
        if (waiting._tag !== "Suspended") throw new Error("expected Suspended")
        yield* Durable.decide(agent, "cut", Approval.approve(waiting.pending[0]!))
        yield* Deferred.await(started)
      }).pipe(
        Effect.provide(
          runtime(filename, (key) => Effect.andThen(Effect.sync(() => void toolRuns.push(key)), Effect.andThen(Deferred.succeed(started, undefined), Effect.never)), modelCalls)
        )
      )
      // The next runtime: nobody calls anything for the run; registering the workflow runs it again.
      const status = yield* Durable.awaitSettled(agent, "cut").pipe(
        Effect.provide(runtime(filename, (key) => Effect.sync(() => void toolRuns.push(key)), modelCalls))
      )
      expect(status).toMatchObject({ _tag: "Completed", outcome: { text: "Done: deployed 7.2" } })
      expect(toolRuns).toEqual(["cut:call-deploy", "cut:call-deploy"])
      // Turn 1 ran once (stored); turn 2 only in the second runtime.
      expect(modelCalls).toEqual([1, 2])
    })
  })
})

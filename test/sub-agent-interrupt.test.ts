/**
 * A consumer that stops while a sub-agent's events are being forwarded into the parent's: `Stream.take`
 * (the stream ends early), a `break` out of `for await`, and an interrupt of the consuming fiber, each at
 * four points: before the sub-agent's first model step, during its tool call, after it, and during the
 * parent's next step. Every time the parent run is stored `interrupted` (never `running`), the run's fiber
 * is done, one `resume` completes both runs, and the sub-agent's tool ran once (twice with the same
 * idempotency key when it was cut off mid-call), as the append-only log shows.
 */
import { Agent, AgentBackend, type AgentEvent, Approval, RunEvents, RunStore, SubAgent } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Metric, Option, Stream } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { agent as worker, makeWorld, type Point } from "../packages/core/test/support/adversarial.js"

const workerTool = Agent.asTool(worker, { name: "worker", description: "Writes notes." })
const lead = Agent.make({ name: "lead", instructions: "You lead.", toolkit: workerTool.toolkit })

/** Model requests: 1 the lead calls the worker, 2-3 the worker's steps (a note, then its answer), 4 the lead's answer. */
const script = [
  S.toolCall("worker", { input: "Note a" }, { id: "c_worker" }),
  S.toolCall("note", { text: "a" }, { id: "c_note" }),
  S.text("Noted."),
  S.text("Done.")
]

const nested = (event: AgentEvent.AgentEvent, tag: string, tool?: string) =>
  event._tag === "SubAgentEvent" && event.event._tag === tag && (tool === undefined || ("toolName" in event.event && event.event.toolName === tool))

interface StopPoint {
  readonly name: string
  /** Where the run is held when the consumer stops. */
  readonly hold: Point
  /** The event after which the consumer stops (once the run is held). */
  readonly after: (event: AgentEvent.AgentEvent) => boolean
  /** How many times the note tool runs in all (the interrupted run and its recovery). */
  readonly notes: number
}

const points: ReadonlyArray<StopPoint> = [
  { name: "before the sub-agent's first model step", hold: "model:2", after: (e) => nested(e, "RunStarted"), notes: 1 },
  { name: "during the sub-agent's tool call", hold: "note:1", after: (e) => nested(e, "ToolCalled", "note"), notes: 2 },
  { name: "after the sub-agent's tool call", hold: "model:3", after: (e) => nested(e, "ToolResult", "note"), notes: 1 },
  { name: "during the parent's next step", hold: "model:4", after: (e) => e._tag === "ToolResult" && e.toolName === "worker", notes: 1 }
]

type Consumer = (
  backend: AgentBackend.Service,
  runId: string,
  point: StopPoint,
  reached: Deferred.Deferred<void>
) => Effect.Effect<void, unknown>

const consumers: ReadonlyArray<readonly [string, Consumer]> = [
  [
    "Stream.take",
    (backend, runId, point, reached) =>
      Stream.runDrain(
        Stream.takeUntilEffect(backend.stream({ input: "Go", runId }), (event) => (point.after(event) ? Effect.as(Deferred.await(reached), true) : Effect.succeed(false)))
      )
  ],
  [
    "break out of for await",
    (backend, runId, point, reached) =>
      Effect.gen(function* () {
        // This fiber's services: the run's fiber is started with the test's fiber counter.
        const iterable = RunEvents.toAsyncIterable(yield* Effect.context<never>(), (sink) => backend.run({ input: "Go", runId }, sink))
        yield* Effect.promise(async () => {
          for await (const event of iterable) {
            if (!point.after(event)) continue
            await Effect.runPromise(Deferred.await(reached))
            break
          }
        })
        // The run's fiber ended (interrupted): the iterator's return stopped it, nothing is left running.
        const exit = yield* Effect.promise(() => iterable.exit)
        expect(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)).toBe(true)
      })
  ],
  [
    "an interrupt of the consuming fiber",
    (backend, runId, _point, reached) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(Stream.runDrain(backend.stream({ input: "Go", runId })))
        yield* Deferred.await(reached)
        yield* Fiber.interrupt(fiber)
      })
  ]
]

/**
 * Counts every fiber started under it and every one that ended (Effect 4 has no `Supervisor`: the runtime
 * reports each fiber's start and end, with its exit, to the `Metric.FiberRuntimeMetrics` service in its context).
 */
class Forked implements Metric.FiberRuntimeMetricsService {
  started = 0
  ended = 0
  readonly recordFiberStart = () => void this.started++
  readonly recordFiberEnd = () => void this.ended++
}

const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), "agentloop-subint-"))
  const logFile = join(dir, "ran.log")
  const world = makeWorld({ logFile })
  const model = world.model(script)
  const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
  const shared = Layer.mergeAll(model.layer, store, Approval.layerAutoApprove)
  const sub = workerTool.layer.pipe(Layer.provide(Layer.merge(shared, world.handlers)))
  const layer = AgentBackend.layerLocal(lead).pipe(Layer.provide(Layer.merge(shared, sub)))
  /** The append-only log: one line per execution of a tool, with its idempotency key. */
  const ran = () => readFileSync(logFile, "utf8").trim().split("\n")
  return { world, layer, ran }
}

describe("a consumer stops while a sub-agent's events are forwarded", () => {
  for (const [consumerName, consume] of consumers) {
    for (const point of points) {
      it.effect(`${consumerName}, ${point.name}: stored interrupted, no fiber left, one resume completes both, the note runs ${point.notes === 1 ? "once" : "again with the same key"}`, () =>
        Effect.gen(function* () {
          const { world, layer, ran } = setup()
          const backend = Context.get(yield* Layer.build(layer), AgentBackend.AgentBackend)
          const runId = "run_stop"
          const hold = world.holdAt(point.hold)
          const forked = new Forked()
          yield* consume(backend, runId, point, hold.reached).pipe(Effect.provideService(Metric.FiberRuntimeMetrics, forked))
          // Every fiber forked while it ran has ended. On Effect 4 the sub-agent and the calls run on the run's own
          // fiber (Effect 3's streams forked more): at least the run's fiber was seen, so the check is not vacuous.
          expect(forked.started).toBeGreaterThanOrEqual(1)
          expect(forked.started - forked.ended).toBe(0)
          expect(Option.getOrThrow(yield* backend.getRun(runId))).toMatchObject({ status: "interrupted" })
          const before = world.executions.length

          const outcome = yield* backend.resume(runId, [])
          expect(outcome).toMatchObject({ _tag: "Completed", text: "Done." })
          expect(Option.getOrThrow(yield* backend.getRun(SubAgent.childRunId(runId, "c_worker")))).toMatchObject({ status: "completed" })
          const lines = ran()
          expect(lines).toHaveLength(point.notes)
          // One call: every execution carries its idempotency key.
          expect(new Set(lines.map((line) => line.split(" ")[1])).size).toBe(1)
          expect(world.executions.map((e) => e.tool)).toEqual(Array(point.notes).fill("note"))
          expect(before).toBe(point.hold === "note:1" || point.hold === "model:3" || point.hold === "model:4" ? 1 : 0)
        }))
    }
  }
})

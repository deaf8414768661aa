/**
 * A run's events through the bounded buffer (`RunEvents`): as a `Stream` (`backend.stream`), as plain
 * callbacks (`backend.run(input, { onEvent })`) and as an async iterator (`RunEvents.toAsyncIterable`).
 * Backpressure: a consumer that stops reading stalls the run (memory stays bounded). Interruption: a
 * consumer that stops early interrupts the run, which is stored as `interrupted` and resumes to the end.
 * Typed errors: a model failure reaches every consumer as the `ModelError` itself.
 */
import { Agent, AgentBackend, type AgentEvent, Approval, LanguageModel, Loop, RunEvents, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, Stream } from "effect"
import { batches, EventBuffer, pull } from "../src/internal/eventBuffer.js"
import { harness, runCollect } from "./fixtures.js"

const S = ScriptedModel

const Note = Tool.make("note", { description: "Note the text.", parameters: { text: Schema.String }, success: Schema.String })
const NoteKit = Toolkit.make(Note)

/** A model that pushes one `note` call per step, forever (until `maxSteps`), counting the steps it took. */
const endlessModel = () => {
  let steps = 0
  const partsOf = (): ReadonlyArray<LanguageModel.ResponsePart> => {
    steps++
    return [LanguageModel.toolCall({ id: `c${steps}`, name: "note", arguments: '{"text":"x"}' }), LanguageModel.finish("tool_calls")]
  }
  const model: LanguageModel.Service = {
    streamStep: () => Stream.suspend(() => Stream.fromIterable(partsOf())),
    pushStep: (_request, emit) => Effect.sync(() => emit(partsOf()))
  }
  return { model, steps: () => steps }
}

const noteLayer = (model: LanguageModel.Service, maxSteps: number, note: (text: string) => Effect.Effect<string> = Effect.succeed) => {
  let ran = 0
  const layer = AgentBackend.layerLocal(Agent.make({ name: "notes", toolkit: NoteKit, maxSteps })).pipe(
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(LanguageModel.LanguageModel, model),
        NoteKit.toLayer({ note: ({ text }) => Effect.suspend(() => (ran++, note(text))) }),
        Approval.layerAutoApprove,
        RunStore.layerMemory
      )
    )
  )
  return { layer, ran: () => ran }
}

describe("EventBuffer", () => {
  it("accepts events without waiting, asks the producer to wait once `capacity` are unread, and releases it when they are taken", () =>
    Effect.gen(function* () {
      const buffer = new EventBuffer<number, never>(3)
      buffer.offer(1)
      buffer.offer(2)
      expect(buffer.ready()).toBeUndefined()
      buffer.offer(3)
      const wait = buffer.ready()
      expect(wait).toBeDefined()
      const released = yield* Deferred.make<void>()
      yield* Effect.forkChild(Effect.andThen(wait!, Deferred.succeed(released, undefined)))
      yield* Effect.yieldNow
      expect(yield* Deferred.isDone(released)).toBe(false)
      expect(buffer.drain()).toEqual([1, 2, 3])
      yield* Deferred.await(released)
      expect(buffer.ready()).toBeUndefined()
    }).pipe(Effect.runPromise))

  it("wakes a promise consumer (`atOnce`) on the first event, synchronously, and a stream consumer once per batch", async () => {
    const buffer = new EventBuffer<number, never>(8)
    const woken: Array<string> = []
    buffer.onAvailable(() => woken.push(`at once, ${buffer.size} buffered`), true)
    buffer.offer(1)
    expect(woken).toEqual(["at once, 1 buffered"])
    buffer.offer(2)
    buffer.offer(3)
    expect(woken).toHaveLength(1)
    // The first event alone, then the rest of the batch in one drain.
    expect(buffer.takeFirst()).toBe(1)
    expect(buffer.drain()).toEqual([2, 3])
    buffer.onAvailable(() => woken.push(`batch, ${buffer.size} buffered`))
    buffer.offer(4)
    buffer.offer(5)
    expect(woken).toHaveLength(1)
    await Promise.resolve()
    expect(woken).toEqual(["at once, 1 buffered", "batch, 2 buffered"])
  })
})

describe("EventBuffer's end", () => {
  it("the first end counts and nothing offered after it is taken; what was buffered before it is delivered first (pull)", () =>
    Effect.gen(function* () {
      const buffer = new EventBuffer<number, string>(8)
      buffer.offer(1)
      buffer.offer(2)
      buffer.end(Exit.fail("deadline"))
      buffer.end(Exit.void)
      buffer.offer(3)
      expect(buffer.size).toBe(2)
      const seen: Array<number> = []
      const error = yield* Effect.flip(Stream.runForEach(Stream.fromChannel(pull(buffer, batches)), (n: number) => Effect.sync(() => seen.push(n))))
      expect(seen).toEqual([1, 2])
      expect(error).toBe("deadline")
    }).pipe(Effect.runPromise))
})

describe("backend.stream", () => {
  it.effect("delivers the same events, in order, as the callbacks of backend.run", () =>
    Effect.gen(function* () {
      const turns = [S.toolCall("echo", { text: "a" }), S.toolCall("add", { a: 1, b: 2 }), S.text(["do", "ne"])]
      const streamed = yield* runCollect("go").pipe(Effect.provide(harness(turns).layer))
      const called: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) =>
        backend.run({ input: "go" }, { onEvent: (event) => called.push(event) })
      ).pipe(Effect.provide(harness(turns).layer))
      const shape = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.map((e) => ("delta" in e ? `${e._tag}:${e.delta}` : e._tag))
      expect(shape(called)).toEqual(shape(streamed.events))
      expect(shape(called)).toContain("TextDelta:ne")
      expect(outcome).toMatchObject({ _tag: "Completed", text: "done", steps: 3 })
    }))

  it.live("backpressure: a consumer that stops reading stalls the run at `capacity` unread events; reading on finishes it", () =>
    Effect.gen(function* () {
      const endless = endlessModel()
      const { layer, ran } = noteLayer(endless.model, 400)
      const capacity = 16
      yield* Effect.scoped(
        Effect.gen(function* () {
          const backend = yield* AgentBackend.AgentBackend
          const pull = yield* Stream.toPull(Loop.toStream((sink) => backend.run({ input: "go" }, sink), capacity))
          let read = (yield* pull).length
          // Stop reading, and give the run every chance to run ahead (it would take all 400 steps).
          for (let i = 0; i < 50; i++) yield* Effect.sleep("2 millis")
          // Each step reports 5 events; the run waits before a step while `capacity` are unread.
          const aheadSteps = endless.steps()
          expect(aheadSteps).toBeLessThanOrEqual(Math.ceil((capacity + read) / 5) + 2)
          expect(ran()).toBeLessThan(400)
          // Reading on lets it finish: every step taken once, every event delivered.
          let last: AgentEvent.AgentEvent | undefined
          while (true) {
            const chunk = yield* Effect.option(pull)
            if (Option.isNone(chunk)) break
            read += chunk.value.length
            last = chunk.value.at(-1)
          }
          expect(last).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Stopped", reason: "max_steps" } })
          expect(ran()).toBe(400)
          expect(read).toBe(2 + 400 * 5)
        })
      ).pipe(Effect.provide(layer))
    }))

  it.live("backpressure inside a step: a model that streams 1,000 deltas in one step is read no further than the consumer", () =>
    Effect.gen(function* () {
      let pulled = 0
      const deltas = Array.from({ length: 1000 }, (_, i) => LanguageModel.textDelta(`t${i} `))
      // Only `streamStep` (the HTTP adapters' shape), one part per chunk: the loop waits between chunks.
      const model: LanguageModel.Service = {
        streamStep: () => Stream.fromIterable([...deltas, LanguageModel.finish("stop")]).pipe(Stream.rechunk(1), Stream.tap(() => Effect.sync(() => pulled++)))
      }
      const { layer } = noteLayer(model, 1)
      const capacity = 16
      yield* Effect.scoped(
        Effect.gen(function* () {
          const backend = yield* AgentBackend.AgentBackend
          const pull = yield* Stream.toPull(Loop.toStream((sink) => backend.run({ input: "go" }, sink), capacity))
          let read = (yield* pull).length
          for (let i = 0; i < 50; i++) yield* Effect.sleep("2 millis")
          // At most `capacity` unread deltas, plus the chunk in hand (and the stream's one-chunk read-ahead).
          expect(pulled).toBeLessThanOrEqual(read + capacity + 2)
          while (true) {
            const chunk = yield* Effect.option(pull)
            if (Option.isNone(chunk)) break
            read += chunk.value.length
          }
          expect(pulled).toBe(1001)
          // RunStarted, StepStarted, 1,000 deltas, UsageReported, StepFinished, RunFinished.
          expect(read).toBe(1005)
        })
      ).pipe(Effect.provide(layer))
    }))

  it.effect("interruption: a consumer that stops early interrupts the run, stored as `interrupted`; resume finishes it", () =>
    Effect.gen(function* () {
      let calls = 0
      // The first `note` call never returns: the run is inside a tool call when the consumer leaves.
      const { layer, ran } = noteLayer(
        S.make([S.toolCall("note", { text: "a" }), S.toolCall("note", { text: "b" }), S.text("done")]).service,
        10,
        (text) => (++calls === 1 ? Effect.never : Effect.succeed(text))
      )
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const seen = yield* Stream.runCollect(backend.stream({ input: "go" }).pipe(Stream.takeUntil((e) => e._tag === "ToolCalled")))
        const runId = (seen[0] as Extract<AgentEvent.AgentEvent, { _tag: "RunStarted" }>).runId
        const stored = Option.getOrThrow(yield* backend.getRun(runId))
        expect(stored).toMatchObject({ status: "interrupted", step: 1, queue: [{ name: "note" }] })
        const outcome = yield* backend.resume(runId, [])
        expect(outcome).toMatchObject({ _tag: "Completed", text: "done", steps: 3 })
        // The cut-off call ran again (same key), the second once: three handler starts in all.
        expect(ran()).toBe(3)
      }).pipe(Effect.provide(layer))
    }))

  it.live("interrupting the consumer's fiber interrupts the run: stored as `interrupted`, and it resumes to the end", () =>
    Effect.gen(function* () {
      const inTool = yield* Deferred.make<void>()
      let calls = 0
      const { layer, ran } = noteLayer(
        S.make([S.toolCall("note", { text: "a" }), S.text("done")]).service,
        10,
        (text) => (++calls === 1 ? Effect.andThen(Deferred.succeed(inTool, undefined), Effect.never) : Effect.succeed(text))
      )
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const runIds: Array<string> = []
        const consumer = yield* Effect.forkChild(
          Stream.runForEach(backend.stream({ input: "go" }), (event) => Effect.sync(() => event._tag === "RunStarted" && runIds.push(event.runId)))
        )
        yield* Deferred.await(inTool)
        // Interrupted from another fiber; Effect 4's Fiber.interrupt returns once the consumer has ended (its Exit is read with Fiber.await).
        yield* Fiber.await(yield* Effect.forkChild(Fiber.interrupt(consumer)))
        const exit = yield* Fiber.await(consumer)
        expect(Exit.hasInterrupts(exit)).toBe(true)
        // The run stopped before the consumer's interruption returned: its state is already stored.
        const stored = Option.getOrThrow(yield* backend.getRun(runIds[0]!))
        expect(stored).toMatchObject({ status: "interrupted", queue: [{ name: "note" }] })
        expect(yield* backend.resume(runIds[0]!, [])).toMatchObject({ _tag: "Completed", text: "done" })
        expect(ran()).toBe(2)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a model that is an Effect Stream: each step's stream is released when its step ends; a failure mid-stream reaches the consumer as the ModelError and the run is stored `failed`", () =>
    Effect.gen(function* () {
      let released = 0
      let step = 0
      const model: LanguageModel.Service = {
        streamStep: () =>
          Stream.suspend(() =>
            ++step === 1
              ? Stream.fromIterable([LanguageModel.toolCall({ id: "c1", name: "note", arguments: '{"text":"a"}' }), LanguageModel.finish("tool_calls")])
              : Stream.concat(
                  Stream.fromIterable([LanguageModel.textDelta("par"), LanguageModel.textDelta("tial")]),
                  Stream.fail(new LanguageModel.ModelError({ message: "cut off", retryable: true, reason: "truncated" }))
                )
          ).pipe(Stream.ensuring(Effect.sync(() => released++)))
      }
      const { layer } = noteLayer(model, 10)
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const tags: Array<string> = []
        let runId = ""
        const failure = yield* Effect.flip(
          Stream.runForEach(backend.stream({ input: "go" }), (event) =>
            Effect.sync(() => {
              tags.push(event._tag)
              if (event._tag === "RunStarted") runId = event.runId
            })
          )
        )
        expect(failure).toBeInstanceOf(LanguageModel.ModelError)
        expect(failure).toMatchObject({ _tag: "ModelError", reason: "truncated" })
        expect(tags).toEqual(["RunStarted", "StepStarted", "UsageReported", "ToolCalled", "ToolResult", "StepFinished", "StepStarted", "TextDelta", "TextDelta"])
        expect(released).toBe(2)
        expect(Option.getOrThrow(yield* backend.getRun(runId)).status).toBe("failed")
      }).pipe(Effect.provide(layer))
    }))

  // The loop consumes a step's stream itself (internal/runStep.ts, `consumeStream`): its scope is the step's.
  it.effect("a model that is an Effect Stream: each step's stream is released before that step's tool runs, with every chunk folded in, watched or not", () =>
    Effect.gen(function* () {
      let released = 0
      const releasedWhenToolRan: Array<number> = []
      const model: LanguageModel.Service = {
        streamStep: (request) => {
          const calls = request.messages.filter((m) => m._tag === "ToolMessage").length
          const chunks: Array<Stream.Stream<LanguageModel.ResponsePart>> =
            calls < 2
              ? [Stream.make(LanguageModel.textDelta("a"), LanguageModel.textDelta("b")), Stream.make(LanguageModel.toolCall({ id: `c${calls}`, name: "note", arguments: '{"text":"x"}' }), LanguageModel.finish("tool_calls"))]
              : [Stream.make(LanguageModel.textDelta("do")), Stream.make(LanguageModel.textDelta("ne"), LanguageModel.finish("stop"))]
          // A resource in the stream's scope, as an HTTP body is: released when the scope the loop gives the stream closes.
          return Stream.unwrap(Effect.as(Effect.acquireRelease(Effect.void, () => Effect.sync(() => released++)), Stream.concat(chunks[0]!, chunks[1]!)))
        }
      }
      const { layer, ran } = noteLayer(model, 10, (text) => Effect.sync(() => (releasedWhenToolRan.push(released), text)))
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const outcome = yield* backend.run({ input: "go" })
        expect(outcome).toMatchObject({ _tag: "Completed", text: "done" })
        expect(releasedWhenToolRan).toEqual([1, 2])
        expect(released).toBe(3)
        const events = yield* Stream.runCollect(backend.stream({ input: "go" }))
        expect(events.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta).join("")).toBe("ababdone")
        expect(releasedWhenToolRan).toEqual([1, 2, 4, 5])
        expect(released).toBe(6)
        expect(ran()).toBe(4)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a model that is an Effect Stream: a consumer that stops mid-step releases the step's stream and leaves the run `interrupted`", () =>
    Effect.gen(function* () {
      let released = 0
      const model: LanguageModel.Service = {
        streamStep: () => Stream.concat(Stream.make(LanguageModel.textDelta("think")), Stream.never).pipe(Stream.ensuring(Effect.sync(() => released++)))
      }
      const { layer } = noteLayer(model, 10)
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const seen = yield* Stream.runCollect(backend.stream({ input: "go" }).pipe(Stream.takeUntil((e) => e._tag === "TextDelta")))
        expect(released).toBe(1)
        const runId = (seen[0] as Extract<AgentEvent.AgentEvent, { _tag: "RunStarted" }>).runId
        expect(Option.getOrThrow(yield* backend.getRun(runId)).status).toBe("interrupted")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a pushing model that fails: the stream ends with the ModelError after the step before it, the run is stored `failed` and resumes", () =>
    Effect.gen(function* () {
      let calls = 0
      // Step 1 pushes a call; the first attempt at step 2 fails; the retry (on resume) answers.
      const model: LanguageModel.Service = {
        streamStep: () => Stream.die("the loop must use pushStep"),
        pushStep: (_request, emit) =>
          Effect.suspend(() => {
            calls++
            if (calls === 2) return Effect.fail(new LanguageModel.ModelError({ message: "upstream down", retryable: true }))
            emit(calls === 1 ? [LanguageModel.toolCall({ id: "c1", name: "note", arguments: '{"text":"x"}' }), LanguageModel.finish("tool_calls")] : [LanguageModel.textDelta("done"), LanguageModel.finish("stop")])
            return Effect.void
          })
      }
      const { layer, ran } = noteLayer(model, 10)
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const events: Array<AgentEvent.AgentEvent> = []
        const error = yield* Effect.flip(Stream.runForEach(backend.stream({ input: "go" }), (event) => Effect.sync(() => events.push(event))))
        expect(error).toMatchObject({ _tag: "ModelError", message: "upstream down" })
        expect(events.map((e) => e._tag)).toContain("ToolResult")
        const runId = events[0]!.runId
        const stored = Option.getOrThrow(yield* backend.getRun(runId))
        expect(stored.status).toBe("failed")
        expect(ran()).toBe(1)
        const outcome = yield* backend.resume(runId, [])
        expect(outcome).toMatchObject({ _tag: "Completed", text: "done", steps: 2 })
        expect(ran()).toBe(1)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a typed failure ends the stream with the ModelError itself, after the events before it", () =>
    Effect.gen(function* () {
      const failure = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) =>
        Effect.flip(Stream.runCollect(backend.stream({ input: "go" })))
      ).pipe(Effect.provide(harness([S.toolCall("echo", { text: "a" }), S.error("upstream down")]).layer))
      expect(failure._tag).toBe("ModelError")
      expect(failure).toBeInstanceOf(LanguageModel.ModelError)
    }))
})

describe("RunEvents.toAsyncIterable", () => {
  const iterate = (layer: Layer.Layer<AgentBackend.AgentBackend, unknown>) =>
    Effect.gen(function* () {
      const context = yield* Effect.context<AgentBackend.AgentBackend>()
      const backend = yield* AgentBackend.AgentBackend
      return { context, backend }
    }).pipe(Effect.provide(layer))

  it.effect("for await yields every event in order, as backend.stream does, ending with RunFinished; exit holds the outcome", () =>
    Effect.gen(function* () {
      const turns = [S.toolCall("echo", { text: "a" }), S.text("done")]
      const { context, backend } = yield* iterate(harness(turns).layer)
      const iterable = RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink))
      const events = yield* Effect.promise(async () => {
        const out: Array<AgentEvent.AgentEvent> = []
        for await (const event of iterable) out.push(event)
        return out
      })
      const streamed = yield* runCollect("go").pipe(Effect.provide(harness(turns).layer))
      expect(events.map((e) => e._tag)).toEqual(streamed.events.map((e) => e._tag))
      expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Completed", text: "done" } })
      const exit = yield* Effect.promise(() => iterable.exit)
      expect(Exit.isSuccess(exit) && exit.value).toMatchObject({ _tag: "Completed", text: "done", steps: 2 })
    }))

  it.effect("a typed failure is thrown as the ModelError itself, and `exit` fails with it", () =>
    Effect.gen(function* () {
      const { context, backend } = yield* iterate(harness([S.toolCall("echo", { text: "a" }), S.error("upstream down")]).layer)
      const iterable = RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink))
      const { seen, thrown } = yield* Effect.promise(async () => {
        const seen: Array<string> = []
        try {
          for await (const event of iterable) seen.push(event._tag)
          return { seen, thrown: undefined }
        } catch (error) {
          return { seen, thrown: error }
        }
      })
      expect(seen).toContain("ToolResult")
      expect(thrown).toBeInstanceOf(LanguageModel.ModelError)
      expect(thrown).toMatchObject({ _tag: "ModelError", message: "upstream down" })
      const exit = yield* Effect.promise(() => iterable.exit)
      // Typed: the failure is an AgentError, narrowed by its tag.
      if (Exit.isSuccess(exit)) throw new Error("expected a failure")
      const failure = Option.getOrThrow(Cause.findErrorOption(exit.cause))
      expect(failure._tag).toBe("ModelError")
    }))

  it.effect("`exit` read before iterating settles when the run ends; every result is a fresh object, in order", () =>
    Effect.gen(function* () {
      const turns = [S.toolCall("echo", { text: "a" }), S.toolCall("echo", { text: "b" }), S.text(["do", "ne"])]
      const { context, backend } = yield* iterate(harness(turns).layer)
      const iterable = RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink))
      const exit = iterable.exit
      const results = yield* Effect.promise(async () => {
        const iterator = iterable[Symbol.asyncIterator]()
        const out: Array<IteratorResult<AgentEvent.AgentEvent>> = []
        while (true) {
          const result = await iterator.next()
          out.push(result)
          if (result.done === true) return out
        }
      })
      const events = results.flatMap((r) => (r.done === true ? [] : [r.value]))
      // Kept results stay as they were: none is reused for a later event.
      expect(new Set(results).size).toBe(results.length)
      const streamed = yield* runCollect("go").pipe(Effect.provide(harness(turns).layer))
      expect(events.map((e) => e._tag)).toEqual(streamed.events.map((e) => e._tag))
      const settled = yield* Effect.promise(() => exit)
      expect(Exit.isSuccess(settled) && settled.value).toMatchObject({ _tag: "Completed", text: "done", steps: 3 })
    }))

  it.live("backpressure: an iterator that stops reading stalls the run at `capacity` unread events; reading on finishes it", () =>
    Effect.gen(function* () {
      const endless = endlessModel()
      const { layer, ran } = noteLayer(endless.model, 300)
      const { context, backend } = yield* iterate(layer)
      const capacity = 16
      const iterator = RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink), capacity)[Symbol.asyncIterator]()
      yield* Effect.promise(() => iterator.next())
      for (let i = 0; i < 50; i++) yield* Effect.sleep("2 millis")
      // Each step reports 5 events; the run waits before a step while `capacity` are unread in the buffer, and
      // the iterator holds at most one drained batch (itself at most `capacity` plus a step's worth).
      expect(endless.steps()).toBeLessThanOrEqual(Math.ceil((2 * capacity + 1) / 5) + 2)
      const rest = yield* Effect.promise(async () => {
        let read = 1
        let last: AgentEvent.AgentEvent | undefined
        for (let result = await iterator.next(); result.done !== true; result = await iterator.next()) {
          read++
          last = result.value
        }
        return { read, last }
      })
      expect(rest.last).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Stopped", reason: "max_steps" } })
      expect(ran()).toBe(300)
      expect(rest.read).toBe(2 + 300 * 5)
    }))

  it.effect("break interrupts the run: stored as `interrupted`, and it resumes to the end", () =>
    Effect.gen(function* () {
      const endless = endlessModel()
      const { layer, ran } = noteLayer(endless.model, 200)
      const { context, backend } = yield* iterate(layer)
      const runId = yield* Effect.promise(async () => {
        for await (const event of RunEvents.toAsyncIterable(context, (sink) => backend.run({ input: "go" }, sink), 8)) {
          if (event._tag === "RunStarted") return event.runId
        }
        throw new Error("no RunStarted")
      })
      const stored = Option.getOrThrow(yield* backend.getRun(runId))
      expect(stored.status).toBe("interrupted")
      expect(ran()).toBeLessThan(200)
      const outcome = yield* backend.resume(runId, [])
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "max_steps", steps: 200 })
      expect(ran()).toBe(200)
    }))
})

describe("backend.run with callbacks", () => {
  it.effect("keeps the typed failure in the Effect's error channel", () =>
    Effect.gen(function* () {
      const tags: Array<string> = []
      const error = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) =>
        Effect.flip(backend.run({ input: "go" }, { onEvent: (event) => tags.push(event._tag) }))
      ).pipe(Effect.provide(harness([S.error("upstream down")]).layer))
      expect(error._tag).toBe("ModelError")
      expect(tags[0]).toBe("RunStarted")
    }))
})

/**
 * The final-answer tool (`outputMode: "tool"`) against a hostile Heroku chat-completions server (its fake,
 * streamed, over real HTTP): the typed output arrives intact through CRLF, comments, a BOM, one byte per
 * write (UTF-8 split inside the tool call's JSON arguments) and empty writes; a stream cut, reset or
 * stalled in the middle of the arguments is a typed `ModelError` with its reason, never a partly decoded
 * output, and the run stays stored (`failed`, resumable: the resume takes the step again and completes);
 * 429 with Retry-After and 5xx pages are retried or become a `status` error, as documented.
 */
import { Agent, AgentBackend, Approval, type LanguageModel, RunStore, Toolkit } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, FakeHttp, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted, Result, Schema } from "effect"

const Forecast = Schema.Struct({ city: Schema.String, celsius: Schema.Number, rain: Schema.Boolean })
/** Multi-byte characters, so writes split inside UTF-8 sequences of the arguments. */
const tromso = { city: "Troms\u00f8 \u{1F30D} \u5317", celsius: -3.5, rain: false }
const forecaster = Agent.make({ name: "forecaster", toolkit: Toolkit.make(), output: Forecast, outputMode: "tool" })

const answer = (hostile?: FakeHttp.Hostile): FakeHerokuInference.ChatAnswer => ({
  turn: S.toolCall("final_answer", tromso, { id: "c_final" }),
  ...(hostile === undefined ? {} : { hostile })
})

/** Frames of a streamed final answer: 0 the role, 1 and 2 the arguments' halves, 3 the finish, then usage and [DONE]. */
const MID_ARGUMENTS = 2

const STALL = 30_000
const small = { headers: "300 millis", idle: "300 millis", step: "20 seconds" } as const
const generous = { headers: "10 seconds", idle: "10 seconds", step: "20 seconds" } as const

const start = (answers: ReadonlyArray<FakeHerokuInference.ChatAnswer>, options: { readonly timeouts?: typeof small | typeof generous; readonly maxRetries?: number } = {}) =>
  Effect.gen(function* () {
    const fake = yield* FakeHerokuInference.make({ chat: answers })
    const model = ChatModel.layer({
      url: fake.url,
      key: Redacted.make(fake.key),
      model: fake.model,
      stream: true,
      retry: { maxRetries: options.maxRetries ?? 2, baseDelay: "5 millis" },
      timeouts: options.timeouts ?? generous
    }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    const layer = AgentBackend.layerLocal(forecaster).pipe(Layer.provide(Layer.mergeAll(model, RunStore.layerMemory, Approval.layerAutoApprove)))
    const backend = Context.get(yield* Layer.build(layer), AgentBackend.AgentBackend)
    return { fake, backend }
  })

/** The run failed with a `ModelError`; its stored state holds no output and no final-answer call. */
const expectFailedAndKept = (backend: AgentBackend.Service, runId: string, result: Result.Result<unknown, unknown>) =>
  Effect.gen(function* () {
    if (Result.isSuccess(result)) throw new Error(`expected a ModelError, got ${JSON.stringify(result.success)}`)
    const state = Option.getOrThrow(yield* backend.getRun(runId))
    expect(state).toMatchObject({ status: "failed", step: 0 })
    expect(state.outcome).toBeUndefined()
    expect(JSON.stringify(state.messages)).not.toContain("final_answer")
    return result.failure as LanguageModel.ModelError
  })

describe("final-answer tool mode against a hostile chat-completions stream", () => {
  it.live("a hostile but well-formed stream (CRLF or CR, comments, ids, BOM, one byte per write, empty writes): the output arrives intact", () =>
    Effect.gen(function* () {
      const hostiles: ReadonlyArray<FakeHttp.Hostile> = [
        { eol: "\r\n", comments: true, ids: true, bom: true, writes: "bytes", emptyWrites: true },
        { eol: "\r", writes: "halves", emptyWrites: true, comments: true }
      ]
      for (const hostile of hostiles) {
        const { backend, fake } = yield* start([answer(hostile)])
        const outcome = yield* backend.run({ input: "Weather in Troms\u00f8?" })
        expect(outcome).toMatchObject({ _tag: "Completed", output: tromso, reason: "end_turn" })
        expect(fake.requests).toHaveLength(1)
      }
    }))

  const cuts: ReadonlyArray<readonly [string, FakeHttp.Hostile, LanguageModel.ModelErrorReason, typeof small | typeof generous]> = [
    ["ended cleanly after the arguments' first half", { truncateAfter: MID_ARGUMENTS }, "truncated", generous],
    ["ended inside the frame of the arguments' second half", { truncateInside: MID_ARGUMENTS }, "truncated", generous],
    ["reset after the arguments' first half", { dropAfter: MID_ARGUMENTS }, "transport", generous],
    ["silent after the arguments' first half", { stallAfter: { frames: MID_ARGUMENTS, ms: STALL } }, "idle-timeout", small]
  ]
  for (const [name, hostile, reason, timeouts] of cuts) {
    it.live(`a stream ${name}: a ModelError (${reason}), no partial output, the run kept; the resume completes with the whole output`, () =>
      Effect.gen(function* () {
        const { backend, fake } = yield* start([answer(hostile), answer()], { timeouts })
        const runId = `run_${reason}`
        const error = yield* expectFailedAndKept(backend, runId, yield* Effect.result(backend.run({ input: "Weather?", runId })))
        expect(error).toMatchObject({ _tag: "ModelError", reason })
        // Never re-sent once the body started (the step is retried by the resume, not behind the caller's back).
        expect(fake.requests).toHaveLength(1)
        const outcome = yield* backend.resume(runId, [])
        expect(outcome).toMatchObject({ _tag: "Completed", output: tromso })
        expect(fake.requests).toHaveLength(2)
      }))
  }

  it.live("429 with Retry-After, then the answer: waited for and re-sent once; the output arrives intact", () =>
    Effect.gen(function* () {
      const { backend, fake } = yield* start([FakeHttp.rateLimited(1), answer({ writes: "bytes" })])
      expect(yield* backend.run({ input: "Weather?" })).toMatchObject({ _tag: "Completed", output: tromso })
      expect(fake.requests).toHaveLength(2)
    }))

  it.live("5xx HTML pages: a 503 is re-sent and completes; a 500 past the retries is a status ModelError with the page's title, the run kept and resumable", () =>
    Effect.gen(function* () {
      const unavailable = yield* start([FakeHttp.htmlError(503, "Service Unavailable"), answer()])
      expect(yield* unavailable.backend.run({ input: "Weather?" })).toMatchObject({ _tag: "Completed", output: tromso })
      expect(unavailable.fake.requests).toHaveLength(2)

      const broken = yield* start([FakeHttp.htmlError(500, "Internal Server Error"), answer()], { maxRetries: 0 })
      const error = yield* expectFailedAndKept(broken.backend, "run_500", yield* Effect.result(broken.backend.run({ input: "Weather?", runId: "run_500" })))
      expect(error).toMatchObject({ _tag: "ModelError", status: 500, reason: "status", retryable: true })
      expect(error.message).toContain("Internal Server Error")
      expect(error.message).not.toContain("<html")
      expect(yield* broken.backend.resume("run_500", [])).toMatchObject({ _tag: "Completed", output: tromso })
      expect(broken.fake.requests).toHaveLength(2)
    }))
})

/**
 * Acceptance (issue 12): every hosted adapter against a hostile server, over real HTTP. For each failure:
 * the typed error and its reason, how many requests reached the server (a side effect is never re-sent),
 * the delay honoured, and that no step hangs: every wait is bounded by the adapter's own timeouts, set
 * small here (the fakes stall for 30 s, far beyond them).
 */
import { LanguageModel, Message } from "@agentloop/core"
import { AgentsModel, ChatModel } from "@agentloop/heroku"
import { HumanloopModel } from "@agentloop/humanloop"
import { LettaClient, LettaModel } from "@agentloop/letta"
import { FakeHerokuInference, FakeHttp, FakeHumanloop, FakeLetta, FakeToolhouse, ScriptedModel } from "@agentloop/testing"
import { ToolhouseModel } from "@agentloop/toolhouse"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Result, type Scope, Stream } from "effect"

const S = ScriptedModel
const STALL = 30_000
/** Generous where a test does not wait for a timeout (a loaded machine must not fail it)... */
const timeouts = { headers: "10 seconds", idle: "10 seconds", step: "20 seconds" } as const
/** ...and small where it does. */
const small = { timeouts: { headers: "300 millis", idle: "300 millis", step: "20 seconds" } }
const retry = { maxRetries: 2, baseDelay: "5 millis" } as const

type Answer = any

/** The answer's text, in two pieces; multi-byte characters, so writes split inside UTF-8 sequences. */
const PIECES = ["H\u00e9llo ", "w\u00f6rld \u{1F30D}"] as const
const HELLO = PIECES.join("")

interface Adapter {
  readonly name: string
  /** Whether a request may be re-sent after it may have been delivered (a completion: yes). */
  readonly idempotent: boolean
  /** Starts the fake with these answers (and misbehaviour); returns it and the model layer over it. */
  readonly start: (
    answers: ReadonlyArray<Answer>,
    misbehaviour?: FakeHttp.Misbehaviour,
    extra?: Record<string, unknown>
  ) => Effect.Effect<{ readonly fake: FakeHttp.Server; readonly model: Layer.Layer<LanguageModel.LanguageModel> }, never, Scope.Scope>
  /** A well-formed answer whose text is `HELLO`, written with `hostile`. */
  readonly ok: (hostile?: FakeHttp.Hostile) => Answer
  /** An answer that reports an error inside the stream, with the provider's message "the model failed". */
  readonly inStreamError: Answer
  /** How to cut `ok` cleanly before its end marker. */
  readonly truncation: FakeHttp.Hostile
  /** After how many frames of `ok` some text has arrived (where a reset cuts it). */
  readonly textAfter: number
}

const http = <A>(layer: Layer.Layer<A, never, any>) => layer.pipe(Layer.provide(NodeHttpClient.layerUndici)) as Layer.Layer<A>

const adapters: ReadonlyArray<Adapter> = [
  {
    name: "heroku chat completions",
    idempotent: true,
    start: (answers, misbehaviour = {}, extra = {}) =>
      Effect.map(FakeHerokuInference.make({ chat: answers, ...misbehaviour }), (fake) => ({
        fake,
        model: http(ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, retry, timeouts, ...extra }))
      })),
    ok: (hostile) => ({ turn: S.text([...PIECES]), ...(hostile === undefined ? {} : { hostile }) }),
    inStreamError: { frames: [{ data: { choices: [{ index: 0, delta: { content: "Hel" } }] } }, { data: { error: { message: "the model failed", type: "server_error" } } }] },
    truncation: { truncateAfter: 2 },
    textAfter: 2
  },
  {
    name: "heroku agents",
    idempotent: false,
    start: (answers, misbehaviour = {}, extra = {}) =>
      Effect.map(FakeHerokuInference.make({ agents: answers, ...misbehaviour }), (fake) => ({
        fake,
        model: http(AgentsModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, tools: [], retry, timeouts, ...extra }))
      })),
    ok: (hostile) => ({ ...FakeHerokuInference.agentAnswer(HELLO), ...(hostile === undefined ? {} : { hostile }) }),
    inStreamError: { frames: [{ event: "error", data: { message: "the model failed" } }] },
    truncation: { truncateAfter: 1 },
    textAfter: 1
  },
  {
    name: "humanloop",
    idempotent: false,
    start: (answers, misbehaviour = {}, extra = {}) =>
      Effect.map(FakeHumanloop.make({ turns: answers, ...misbehaviour }), (fake) => ({
        fake,
        model: http(
          HumanloopModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: `${fake.url}/v5`, path: "A/B", agent: { model: "gpt-4o" }, retry, timeouts, ...extra })
        )
      })),
    ok: (hostile) => ({ turn: S.text([...PIECES]), ...(hostile === undefined ? {} : { hostile }) }),
    inStreamError: { frames: [{ data: { log_id: "log_1", type: "agent_turn_start" } }, { data: { log_id: "log_1", type: "agent_turn_error", payload: { error: "the model failed" } } }] },
    truncation: { truncateAfter: 4 },
    textAfter: 3
  },
  {
    name: "letta",
    idempotent: false,
    start: (answers, misbehaviour = {}, extra = {}) =>
      Effect.map(FakeLetta.make({ turns: answers, ...misbehaviour }), (fake) => ({
        fake,
        model: http(LettaModel.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, agentId: fake.agentId, retry, timeouts, ...extra }))
      })),
    ok: (hostile) => ({ items: [{ kind: "assistant", text: HELLO }], ...(hostile === undefined ? {} : { hostile }) }),
    inStreamError: [{ kind: "error", message: "the model failed" }],
    truncation: { truncateAfter: 1 },
    textAfter: 1
  },
  {
    name: "toolhouse",
    idempotent: false,
    start: (answers, misbehaviour = {}, extra = {}) =>
      Effect.map(FakeToolhouse.make({ answers, ...misbehaviour }), (fake) => ({
        fake,
        model: http(ToolhouseModel.layer({ baseUrl: fake.url, agentId: fake.agentId, retry, timeouts, ...extra }))
      })),
    ok: (hostile) => ({ lines: PIECES.map((text) => ({ type: "text", text })), ...(hostile === undefined ? {} : { hostile }) }),
    inStreamError: [{ type: "text", text: "Hel" }, { type: "error", message: "the model failed" }],
    // NDJSON has no end line: a stream cut inside its last line is the truncation Toolhouse can detect.
    truncation: { truncateInside: 1 },
    textAfter: 1
  }
]

const request: LanguageModel.ModelRequest = {
  messages: [Message.user("Say hello")],
  tools: [],
  availableTools: [],
  toolChoice: "auto",
  parallelToolCalls: true
}

/** One step: its parts, or its error, and how long it took. */
const step = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  Effect.gen(function* () {
    const started = Date.now()
    const result = yield* Effect.result(
      Effect.flatMap(LanguageModel.LanguageModel, (m) => Stream.runCollect(m.streamStep(request))).pipe(Effect.provide(model))
    )
    return { result, ms: Date.now() - started }
  })

const textOf = (parts: ReadonlyArray<LanguageModel.ResponsePart>) => parts.flatMap((p) => (p._tag === "TextDelta" ? [p.delta] : [])).join("")

const failure = (result: Result.Result<Array<LanguageModel.ResponsePart>, LanguageModel.ModelError>) => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got the parts ${JSON.stringify(result.success)}`)
  return result.failure
}

for (const adapter of adapters) {
  describe(`failure behaviour: ${adapter.name}`, () => {
    it.live("a hostile but well-formed stream (CRLF, comments, ids, BOM, one byte per write, empty writes) completes", () =>
      Effect.gen(function* () {
        const hostiles: ReadonlyArray<FakeHttp.Hostile> = [
          { eol: "\r\n", comments: true, ids: true, bom: true, writes: "bytes", emptyWrites: true },
          { eol: adapter.name === "toolhouse" ? "\r\n" : "\r", writes: "halves", emptyWrites: true, comments: true }
        ]
        for (const hostile of hostiles) {
          const { model } = yield* adapter.start([adapter.ok(hostile)])
          const { result } = yield* step(model)
          if (Result.isFailure(result)) throw result.failure
          expect(textOf(result.success)).toBe(HELLO)
          expect(result.success.at(-1)).toMatchObject({ _tag: "Finish" })
        }
      }))

    it.live("no response headers: a headers-timeout ModelError; re-sent only if idempotent", () =>
      Effect.gen(function* () {
        const stalled = yield* adapter.start([adapter.ok(), adapter.ok(), adapter.ok()], { hostile: { stallBeforeHeaders: STALL } }, small)
        const { result, ms } = yield* step(stalled.model)
        const error = failure(result)
        expect(error).toMatchObject({ _tag: "ModelError", reason: "headers-timeout", retryable: adapter.idempotent })
        expect(stalled.fake.requests).toHaveLength(adapter.idempotent ? 3 : 1)
        expect(ms).toBeLessThan(STALL)
      }))

    it.live("a stream that goes silent mid-way: an idle-timeout ModelError carrying what was received; never re-sent", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([adapter.ok({ stallAfter: { frames: adapter.textAfter, ms: STALL } }), adapter.ok()], {}, small)
        const { result, ms } = yield* step(model)
        const error = failure(result)
        expect(error).toMatchObject({ _tag: "ModelError", reason: "idle-timeout", retryable: adapter.idempotent })
        expect(textOf(error.received ?? []).length).toBeGreaterThan(0)
        expect(fake.requests).toHaveLength(1)
        expect(ms).toBeLessThan(STALL)
      }))

    it.live("a reset before the response: retried only if idempotent (a side effect is never re-sent)", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([adapter.ok()], { faults: [{ answer: { fault: "reset" } }] })
        const { result } = yield* step(model)
        if (adapter.idempotent) {
          if (Result.isFailure(result)) throw result.failure
          expect(textOf(result.success)).toBe(HELLO)
          expect(fake.requests).toHaveLength(2)
        } else {
          expect(failure(result)).toMatchObject({ _tag: "ModelError", reason: "transport", retryable: false })
          expect(fake.requests).toHaveLength(1)
        }
      }))

    it.live("a reset mid-stream: a transport ModelError with the parts received; never re-sent", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([adapter.ok({ dropAfter: adapter.textAfter }), adapter.ok()])
        const error = failure((yield* step(model)).result)
        expect(error).toMatchObject({ _tag: "ModelError", reason: "transport", retryable: adapter.idempotent })
        const received = textOf(error.received ?? [])
        expect(received.length).toBeGreaterThan(0)
        expect(HELLO.startsWith(received)).toBe(true)
        expect(fake.requests).toHaveLength(1)
      }))

    it.live("a clean end before the end marker: a truncated ModelError carrying what was received, never a completed step", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([adapter.ok(adapter.truncation), adapter.ok()])
        const error = failure((yield* step(model)).result)
        expect(error).toMatchObject({ _tag: "ModelError", reason: "truncated", retryable: adapter.idempotent })
        expect(error.received?.some((p) => p._tag === "TextDelta" || p._tag === "Raw")).toBe(true)
        expect(fake.requests).toHaveLength(1)
      }))

    it.live("an error inside the stream: a provider-error ModelError with the provider's message", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([adapter.inStreamError, adapter.ok()])
        const error = failure((yield* step(model)).result)
        expect(error).toMatchObject({ _tag: "ModelError", reason: "provider-error", retryable: false })
        expect(error.message).toContain("the model failed")
        expect(fake.requests).toHaveLength(1)
      }))

    it.live("429 with Retry-After: 1 is waited for (at least 1 s), then the request is re-sent once", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([FakeHttp.rateLimited(1), adapter.ok()])
        const { result, ms } = yield* step(model)
        if (Result.isFailure(result)) throw result.failure
        expect(textOf(result.success)).toBe(HELLO)
        expect(fake.requests).toHaveLength(2)
        expect(ms).toBeGreaterThanOrEqual(1000)
      }))

    it.live("a Retry-After longer than maxRetryAfter is not waited for: the 429 is the error", () =>
      Effect.gen(function* () {
        const { fake, model } = yield* adapter.start([FakeHttp.rateLimited(new Date(Date.now() + 3_600_000)), adapter.ok()])
        const { result, ms } = yield* step(model)
        const error = failure(result)
        expect(error).toMatchObject({ _tag: "ModelError", status: 429, reason: "status", retryable: true })
        expect(error.message).toContain("Retry-After")
        expect(fake.requests).toHaveLength(1)
        expect(ms).toBeLessThan(STALL)
      }))

    it.live("5xx HTML pages: a 503 is re-sent (nothing was done); a 502 only if idempotent; the page's title is the message", () =>
      Effect.gen(function* () {
        const unavailable = yield* adapter.start([FakeHttp.htmlError(503, "Service Unavailable"), adapter.ok()])
        const first = (yield* step(unavailable.model)).result
        if (Result.isFailure(first)) throw first.failure
        expect(unavailable.fake.requests).toHaveLength(2)

        const badGateway = yield* adapter.start([FakeHttp.htmlError(502, "Bad Gateway"), adapter.ok()])
        const second = (yield* step(badGateway.model)).result
        if (adapter.idempotent) {
          expect(Result.isSuccess(second)).toBe(true)
          expect(badGateway.fake.requests).toHaveLength(2)
        } else {
          const error = failure(second)
          expect(error).toMatchObject({ _tag: "ModelError", status: 502, reason: "status", retryable: false })
          expect(error.message).toContain("Bad Gateway")
          expect(error.message).not.toContain("<html")
          expect(badGateway.fake.requests).toHaveLength(1)
        }
      }))

    it.live("the whole step is bounded by the step timeout, even while the server trickles bytes", () =>
      Effect.gen(function* () {
        const { model } = yield* adapter.start([adapter.ok({ stallAfter: { frames: 1, ms: STALL } })], {}, { timeouts: { headers: "5 seconds", idle: "10 seconds", step: "400 millis" } })
        const { result, ms } = yield* step(model)
        expect(failure(result)).toMatchObject({ _tag: "ModelError", reason: "step-timeout" })
        expect(ms).toBeLessThan(STALL)
      }))

    it.live("no trace headers (traceparent, b3) reach the provider unless propagateTrace is set", () =>
      Effect.gen(function* () {
        const quiet = yield* adapter.start([adapter.ok()])
        yield* step(quiet.model).pipe(Effect.withSpan("app"))
        expect(Object.keys(quiet.fake.requests[0]!.headers).filter((h) => h === "traceparent" || h === "b3")).toEqual([])
        const traced = yield* adapter.start([adapter.ok()], {}, { propagateTrace: true })
        yield* step(traced.model).pipe(Effect.withSpan("app"))
        expect(traced.fake.requests[0]!.headers["traceparent"]).toBeDefined()
      }))
  })
}

describe("failure behaviour: the transport", () => {
  it.live("a refused connection is provably undelivered: even a side-effecting POST is retried", () =>
    Effect.gen(function* () {
      // A port that was just closed refuses connections.
      const closed = yield* Effect.promise(() => FakeHttp.start(() => ({ json: {} })))
      yield* Effect.promise(() => closed.close())
      const agents = http(AgentsModel.layer({ url: closed.url, key: Redacted.make("k"), model: "m", tools: [], retry: { maxRetries: 2, baseDelay: "100 millis" } }))
      const { result, ms } = yield* step(agents)
      const error = failure(result)
      expect(error).toMatchObject({ _tag: "ModelError", reason: "transport", retryable: true })
      // Two backoffs of about 100 and 200 ms (jittered to 80-120%): the request was tried three times.
      expect(ms).toBeGreaterThanOrEqual(240)
    }))

  it.live("LettaClient: a GET that never answers is cut by the headers timeout and re-sent (it is idempotent)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({ tools: [{ id: "tool-1", name: "search" }], faults: [{ method: "GET", answer: { fault: "stall" } }] })
      const client = http(LettaClient.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, retry, timeouts: { headers: "300 millis" } }))
      const started = Date.now()
      const tools = yield* Effect.flatMap(LettaClient.LettaClient, (c) => c.listTools(fake.agentId)).pipe(Effect.provide(client))
      expect(tools.map((t) => t.name)).toEqual(["search"])
      expect(fake.requests).toHaveLength(2)
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    }))
})

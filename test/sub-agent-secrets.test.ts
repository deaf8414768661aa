/**
 * Planted secrets over sub-agent events: a sub-agent whose tool holds a `Redacted` API key, fails with it,
 * throws with the raw key in its error's cause, and whose model (Heroku chat completions' fake, over HTTP)
 * answers 500 with the API key in the page, or an in-stream error quoting it. The key is searched for in
 * every output: the parent's stream (nested `SubAgentEvent`s, as they are and encoded), `onEvent`, the
 * `for await` iterator, the outcome and the run's error, every file of the file store, every log line, and
 * the parent model's requests (what the sub-agent's failure told it).
 */
import { Agent, AgentBackend, AgentEvent, Approval, type LanguageModel, type Loop, RunEvents, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient, NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Layer, Logger, Redacted, References, Result, Schema, type Scope, Stream } from "effect"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"

/** The inference key (the fake checks it), and the tool's own key. */
const INFERENCE_KEY = "inf-planted-4c1e9b7d2a"
const TOOL_KEY = "vault-planted-8e2f0c6b31"
const SECRETS = [INFERENCE_KEY, TOOL_KEY]

/** Every way an output could be turned into text: JSON, `String`, and Node's deep inspection (causes included). */
const renderings = (value: unknown): ReadonlyArray<string> => [
  JSON.stringify(value, (_, v) => (v instanceof Error ? { message: v.message, stack: v.stack, cause: v.cause } : v)) ?? "",
  String(value),
  inspect(value, { depth: 20, showHidden: false })
]

const expectClean = (what: string, value: unknown) => {
  for (const text of renderings(value)) {
    for (const secret of SECRETS) {
      if (text.includes(secret)) throw new Error(`${what} leaks a planted secret: ${text.slice(Math.max(0, text.indexOf(secret) - 200), text.indexOf(secret) + 50)}`)
    }
  }
}

const VaultError = Schema.Struct({ message: Schema.String, key: Schema.RedactedFromValue(Schema.String) })
const Vault = Tool.make("vault", { description: "Opens the vault.", success: Schema.String, failure: VaultError })
const Connect = Tool.make("connect", { description: "Connects upstream.", success: Schema.String })
const Issue = Tool.make("issue", { description: "Issues a token.", success: Schema.Struct({ token: Schema.RedactedFromValue(Schema.String), scope: Schema.String }) })
const workerTools = Toolkit.make(Vault, Connect, Issue)
const worker = Agent.make({ name: "worker", instructions: "You work.", toolkit: workerTools })
const workerTool = Agent.asTool(worker, { description: "Does the work." })
const lead = Agent.make({ name: "lead", instructions: "You lead.", toolkit: workerTool.toolkit })

/** The page a misconfigured proxy answers with, quoting the credentials it was sent. */
const leakyPage = {
  status: 500,
  html: `<!DOCTYPE html><html><head><title>Upstream refused Bearer ${INFERENCE_KEY}</title></head><body><p>Authorization: Bearer ${INFERENCE_KEY}</p></body></html>`
}

/** The sub-agent calls its three tools, then its model answers 500 with the key in the page; the parent goes on. */
const script = () => [
  S.toolCall("worker", { input: "Do it" }, { id: "c_worker" }),
  S.toolCalls([
    { name: "vault", args: {}, id: "c_vault" },
    { name: "connect", args: {}, id: "c_connect" },
    { name: "issue", args: {}, id: "c_issue" }
  ]),
  leakyPage,
  S.text("The worker failed; nothing was done.")
]

interface Setup {
  readonly backend: AgentBackend.Service
  readonly fake: FakeHerokuInference.FakeHerokuInference
  readonly dir: string
  readonly ran: Array<string>
}

const setup = (answers: ReadonlyArray<FakeHerokuInference.ChatAnswer>, stream = true): Effect.Effect<Setup, Loop.LoopError, Scope.Scope> =>
  Effect.gen(function* () {
    const ran: Array<string> = []
    const dir = mkdtempSync(join(tmpdir(), "agentloop-secrets-"))
    const fake = yield* FakeHerokuInference.make({ chat: answers, key: INFERENCE_KEY })
    const apiKey = Redacted.make(TOOL_KEY)
    const model = ChatModel.layer({ url: fake.url, key: Redacted.make(INFERENCE_KEY), model: fake.model, stream, retry: { maxRetries: 0 } }).pipe(
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
    const shared = Layer.mergeAll(model, store, Approval.layerAutoApprove)
    const handlers = workerTools.toLayer({
      // The key travels as a Redacted, in the failure the tool's schema declares.
      // It logs the refusal with the key too (a Redacted in a log line).
      vault: () =>
        Effect.suspend(() => (ran.push("vault"), Effect.andThen(Effect.logWarning("vault refused", apiKey), Effect.fail({ message: `refused ${apiKey}`, key: apiKey })))),
      // A thrown error: its message mentions the key (as a Redacted), its cause holds the raw key.
      connect: () => {
        ran.push("connect")
        throw new Error(`connect with ${apiKey} failed`, { cause: { apiKey: Redacted.value(apiKey) } })
      },
      // A success whose schema declares the token Redacted (encoding it would unwrap it).
      issue: () => Effect.sync(() => (ran.push("issue"), { token: apiKey, scope: "read" }))
    })
    const sub = workerTool.layer.pipe(Layer.provide(Layer.merge(shared, handlers)))
    const context = yield* Layer.build(AgentBackend.layerLocal(lead).pipe(Layer.provide(Layer.merge(shared, sub))))
    return { backend: Context.get(context, AgentBackend.AgentBackend), fake, dir, ran }
  })

/** Every log line, at every level, with its annotations and cause. */
const capturing = (lines: Array<unknown>) =>
  Layer.merge(
    Logger.layer([
      Logger.make(({ cause, fiber, logLevel, message }) =>
        lines.push({ logLevel, message, annotations: fiber.getRef(References.CurrentLogAnnotations), cause: Cause.pretty(cause) })
      )
    ]),
    Layer.succeed(References.MinimumLogLevel, "All")
  )

/** Runs the test with every log line captured into its `logs`. */
const withLogs = <A, E, R>(test: (logs: ReadonlyArray<unknown>) => Effect.Effect<A, E, R>) => {
  const logs: Array<unknown> = []
  return Effect.provide(test(logs), capturing(logs))
}

const storedFiles = (dir: string) => readdirSync(dir).map((name) => ({ name, text: readFileSync(join(dir, name), "utf8") }))

describe("planted secrets never leave a sub-agent", () => {
  it.effect("through the parent's stream (nested SubAgentEvents, encoded too), the stored states and the logs", () =>
    withLogs((logs) => Effect.gen(function* () {
      const { backend, dir, fake, ran } = yield* setup(script())
      const events = yield* Stream.runCollect(backend.stream({ input: "Go", runId: "run_secrets" }))
      expect([...ran].sort()).toEqual(["connect", "issue", "vault"])
      // The sub-agent really saw each failure, and its model's error reached the parent as the tool result.
      const nested = events.filter((e): e is AgentEvent.SubAgentEvent => e._tag === "SubAgentEvent")
      const results = nested.flatMap((e) => (e.event._tag === "ToolResult" ? [e.event] : []))
      const byTool = Object.fromEntries(results.map((r) => [r.toolName, r]))
      expect(Object.keys(byTool).sort()).toEqual(["connect", "issue", "vault"])
      expect(byTool["vault"]).toMatchObject({ isError: true, content: '{"error":{"message":"refused <redacted>","key":"<redacted>"}}' })
      expect(byTool["connect"]).toMatchObject({ isError: true, content: expect.stringContaining("connect with <redacted> failed") })
      expect(byTool["issue"]).toMatchObject({ isError: false, content: '{"token":"<redacted>","scope":"read"}' })
      const leadResult = events.find((e) => e._tag === "ToolResult" && e.toolName === "worker")
      expect(leadResult).toMatchObject({ isError: true, content: expect.stringContaining("heroku answered 500") })
      expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Completed", text: "The worker failed; nothing was done." } })

      expectClean("the parent's stream", events)
      for (const event of events) expectClean(`the encoded event ${event._tag}`, JSON.stringify(Schema.encodeSync(AgentEvent.AgentEvent)(event)))
      const files = storedFiles(dir)
      expect(files.map((f) => f.name).sort()).toEqual(["run_secrets.c_worker.json", "run_secrets.json"])
      expectClean("the file store", files)
      // The parent's model was told of the failure, without the key.
      expectClean("the requests to the model", fake.requests.map((r) => r.body))
      expect(fake.requests).toHaveLength(4)
      // The capture works: the tool's own log line is there, its key redacted.
      expect(JSON.stringify(logs)).toContain("vault refused")
      expectClean("the logs", logs)
    })))

  it.effect("through onEvent, the for-await iterator and the outcome", () =>
    withLogs((logs) => Effect.gen(function* () {
      const first = yield* setup(script())
      const viaCallback: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* first.backend.run({ input: "Go" }, { onEvent: (e) => viaCallback.push(e) })
      expect(outcome).toMatchObject({ _tag: "Completed" })
      expect(viaCallback.some((e) => e._tag === "SubAgentEvent" && e.event._tag === "ToolResult")).toBe(true)
      expectClean("onEvent", viaCallback)
      expectClean("the outcome", outcome)

      const second = yield* setup(script())
      const viaIterator: Array<AgentEvent.AgentEvent> = []
      const iterable = RunEvents.toAsyncIterable(Context.empty(), (sink) => second.backend.run({ input: "Go" }, sink))
      yield* Effect.promise(async () => {
        for await (const event of iterable) viaIterator.push(event)
      })
      expect(viaIterator.some((e) => e._tag === "SubAgentEvent" && e.event._tag === "ToolResult")).toBe(true)
      expectClean("the for-await iterator", viaIterator)
      expectClean("the file store", [...storedFiles(first.dir), ...storedFiles(second.dir)])
      expectClean("the logs", logs)
    })))

  for (const stream of [true, false]) {
    it.effect(`the run's own model errors (${stream ? "an in-stream error" : "a 400 quoting the key"}, a 500 whose JSON quotes the key) and the state they leave (stream: ${stream})`, () =>
      withLogs((logs) => Effect.gen(function* () {
        const quoting = `invalid api key ${INFERENCE_KEY}`
        const { backend, dir } = yield* setup([
          stream ? { frames: [{ data: { error: { message: quoting, type: "authentication_error" } } }] } : { status: 400, body: { error: { message: quoting } } },
          { status: 500, body: { error: { message: `key ${INFERENCE_KEY} is not allowed here` } } },
          S.text("Recovered.")
        ], stream)
        const events: Array<AgentEvent.AgentEvent> = []
        const failed = yield* Effect.result(backend.run({ input: "Go", runId: "run_fails" }, { onEvent: (e) => events.push(e) }))
        const streamed = yield* Effect.result(Stream.runCollect(backend.resumeStream("run_fails", [])))
        const outcome = yield* backend.resume("run_fails", [])
        expect(outcome).toMatchObject({ _tag: "Completed", text: "Recovered." })
        if (Result.isSuccess(failed) || Result.isSuccess(streamed)) throw new Error("expected the first two steps to fail")
        expect(failed.failure).toMatchObject({ _tag: "ModelError", reason: stream ? "provider-error" : "status" })
        expect(streamed.failure).toMatchObject({ _tag: "ModelError", status: 500 })
        // The error still says what went wrong, with the key replaced.
        expect((failed.failure as LanguageModel.ModelError).message).toContain("invalid api key")
        expectClean("the run's error", failed.failure)
        expectClean("the resumed stream's error", streamed.failure)
        expectClean("the events", events)
        expectClean("the file store", storedFiles(dir))
        expectClean("the logs", logs)
      })))
  }
})

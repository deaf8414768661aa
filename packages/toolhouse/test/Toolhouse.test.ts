import { Agent, AgentBackend, type AgentEvent, Approval, Message, RunStore, Toolkit } from "@agentloop/core"
import { ToolhouseModel } from "@agentloop/toolhouse"
import { Ndjson } from "@agentloop/wire"
import { FakeToolhouse, Harness } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Stream } from "effect"

const options = (fake: FakeToolhouse.FakeToolhouse, extra: Partial<ToolhouseModel.Options> = {}): ToolhouseModel.Options => ({
  baseUrl: fake.url,
  agentId: fake.agentId,
  apiKey: Redacted.make("th-key"),
  retry: { baseDelay: "5 millis" },
  ...extra
})
const services = Layer.mergeAll(NodeHttpClient.layerUndici, Approval.layerAutoApprove, RunStore.layerMemory)
const backend = (fake: FakeToolhouse.FakeToolhouse, extra: Partial<ToolhouseModel.Options> = {}) =>
  ToolhouseModel.layerBackend(Agent.make({ name: "worker", toolkit: Toolkit.make() }), options(fake, extra)).pipe(Layer.provide(services))

const events = (input: string | ReadonlyArray<Message.Message>, runId?: string) =>
  Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input, ...(runId === undefined ? {} : { runId }) }))).pipe(
    Effect.map((c) => c as Array<AgentEvent.AgentEvent>)
  )

describe("ToolhouseModel", () => {
  it.live("POST starts a run; NDJSON text, tool calls and results map to events; unknown and malformed lines are kept", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({
        apiKey: "th-key",
        answers: [
          [
            { type: "text", text: "Searching. " },
            { type: "tool_call", id: "tu_1", name: "web_search", input: { query: "effect-ts" } },
            { type: "tool_result", tool_call_id: "tu_1", name: "web_search", output: "Effect is a TS library" },
            { type: "trace", span: "llm", ms: 120 },
            "{broken json",
            "plain string line",
            { type: "text", text: "Found it." },
            { type: "end", usage: { prompt_tokens: 30, completion_tokens: 9 } }
          ]
        ]
      })
      const list = yield* events("What is Effect?", "th-1").pipe(Effect.provide(backend(fake)))
      expect(list.filter((e) => e._tag === "ToolCalled" || e._tag === "ToolResult")).toMatchObject([
        { _tag: "ToolCalled", toolName: "web_search", arguments: { query: "effect-ts" }, remote: true },
        { _tag: "ToolResult", toolName: "web_search", content: "Effect is a TS library", remote: true }
      ])
      expect(list.filter((e) => e._tag === "Raw").map((e) => (e as { data: unknown }).data)).toMatchObject([
        { type: "trace", span: "llm" },
        { malformed: "{broken json" },
        { malformed: "plain string line" }
      ])
      expect(list.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "Searching. Found it." } })
      expect(fake.requests[0]).toMatchObject({ method: "POST", path: `/ndjson/${fake.agentId}`, body: { message: "What is Effect?" } })
      expect(fake.requests[0]!.headers["authorization"]).toBe("Bearer th-key")
    }))

  it.live("the next turn PUTs to the run named by X-Toolhouse-Run-ID", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({ answers: [[{ type: "text", text: "Hi!" }], [{ type: "text", text: "Bye!" }]] })
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        yield* b.run({ input: "hello", runId: "c1" })
        const state = Option.getOrThrow(yield* b.getRun("c1"))
        const runId = [...fake.runs.keys()][0]!
        expect(state.messages.at(-1)).toMatchObject({ metadata: { toolhouse: { agentId: fake.agentId, runId } } })
        const second = yield* b.run({ input: [...state.messages, Message.user("goodbye")] })
        expect(second).toMatchObject({ _tag: "Completed", text: "Bye!" })
        expect(fake.requests[1]).toMatchObject({ method: "PUT", path: `/ndjson/${fake.agentId}/${runId}`, body: { message: "goodbye" } })
        const history = yield* ToolhouseModel.history(options(fake), runId).pipe(Effect.provide(NodeHttpClient.layerUndici))
        expect(history).toEqual([
          { role: "user", content: "hello" },
          { role: "assistant", content: "Hi!" },
          { role: "user", content: "goodbye" },
          { role: "assistant", content: "Bye!" }
        ])
      }).pipe(Effect.provide(backend(fake)))
    }))

  it.live("text mode streams only the output; a public worker needs no key", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({ answers: [[{ type: "text", text: "plain " }, { type: "tool_call", name: "hidden" }, { type: "text", text: "answer" }]] })
      const { apiKey: _key, ...rest } = options(fake, { mode: "text" })
      const layer = ToolhouseModel.layerBackend(Agent.make({ name: "worker", toolkit: Toolkit.make() }), rest).pipe(Layer.provide(services))
      const list = yield* events("x").pipe(Effect.provide(layer))
      expect(list.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "plain answer" } })
      expect(fake.requests[0]!.path).toBe(`/${fake.agentId}`)
      expect(fake.requests[0]!.headers["authorization"]).toBeUndefined()
    }))

  it.live("errors: 401 for a private worker, an error line, a dropped stream; client tools are refused up front", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({
        apiKey: "th-key",
        answers: [[{ type: "text", text: "a" }, { type: "error", message: "worker crashed" }], { dropAfter: 1, lines: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }]
      })
      const run = (layer: ReturnType<typeof backend>) => Effect.flip(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(layer)))
      expect(yield* run(backend(fake, { apiKey: Redacted.make("wrong") }))).toMatchObject({ status: 401, message: "toolhouse answered 401: Unauthorized: this agent is private" })
      expect(yield* run(backend(fake))).toMatchObject({ _tag: "ModelError", message: "toolhouse: worker crashed" })
      expect(yield* run(backend(fake))).toMatchObject({ _tag: "ModelError", retryable: false, reason: "transport" })
      const refused = yield* Effect.flip(
        Effect.provide(
          AgentBackend.AgentBackend,
          ToolhouseModel.layerBackend(Agent.make({ name: "x", toolkit: Harness.toolkit }), options(fake)).pipe(Layer.provide(Layer.merge(services, Harness.handlers([]))))
        )
      )
      expect(refused).toMatchObject({ _tag: "UnsupportedCapability", backend: "toolhouse", capability: "clientTools" })
    }))

  it.live("an answer without X-Toolhouse-Run-ID: the next turn fails typed (no silent new run), or starts a new run when asked", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({ answers: [{ lines: [{ type: "text", text: "Hi!" }], omitRunId: true }, [{ type: "text", text: "Fresh." }]] })
      const first = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => Effect.zip(b.run({ input: "hello", runId: "c1" }), b.getRun("c1"))).pipe(Effect.provide(backend(fake)))
      const messages = Option.getOrThrow(first[1]).messages
      expect(messages.at(-1)).toMatchObject({ metadata: { toolhouse: { agentId: fake.agentId } } })
      const next = [...messages, Message.user("and then?")]
      const error = yield* Effect.flip(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: next })).pipe(Effect.provide(backend(fake))))
      expect(error).toMatchObject({ _tag: "ModelError", provider: "toolhouse", retryable: false })
      expect(error.message).toContain("X-Toolhouse-Run-ID")
      expect(fake.requests).toHaveLength(1)
      const fresh = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: next })).pipe(Effect.provide(backend(fake, { onMissingRunId: "new-run" })))
      expect(fresh).toMatchObject({ _tag: "Completed", text: "Fresh." })
      expect(fake.requests[1]).toMatchObject({ method: "POST", path: `/ndjson/${fake.agentId}`, body: { message: "and then?" } })
    }))

  it.live("the fake refuses unknown body fields (400), so a misnamed field cannot pass", () =>
    Effect.gen(function* () {
      const fake = yield* FakeToolhouse.make({ answers: [[{ type: "text", text: "x" }]] })
      const status = yield* Effect.promise(() =>
        fetch(`${fake.url}/ndjson/${fake.agentId}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ msg: "hi" }) }).then((r) => r.status)
      )
      expect(status).toBe(400)
    }))

  it("maps line shapes leniently", () => {
    const state = { usage: Message.Usage.empty, calls: 0 }
    const parts = (text: string) => Ndjson.decodeAll(text).flatMap((line) => ToolhouseModel.lineParts(line, state))
    expect(parts('{"event":"delta","delta":"x"}\n"y"\n{"type":"function_call","function":{"name":"f","arguments":"{\\"a\\":1}"}}\n')).toEqual([
      { _tag: "TextDelta", delta: "x" },
      { _tag: "TextDelta", delta: "y" },
      { _tag: "RemoteToolCall", call: expect.objectContaining({ id: "toolhouse_1", name: "f", arguments: '{"a":1}', remote: true }) }
    ])
  })
})

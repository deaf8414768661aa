import { AgentBackend } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, Harness, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted, Stream } from "effect"

const S = ScriptedModel
const modelFor = (fake: FakeHerokuInference.FakeHerokuInference, stream = true) =>
  ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model, stream, retry: { baseDelay: "5 millis" } })

describe("ChatModel (OpenAI-compatible /v1/chat/completions)", () => {
  it.live("drives the local loop: streamed deltas, a tool call assembled from fragments, the result sent back", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        chat: [S.toolCall("get_weather", { city: "Oslo" }, { text: "Checking." }), S.text(["It is ", "5C in Oslo."])]
      })
      const { layer, calls } = Harness.over(modelFor(fake))
      const list = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input: "Weather in Oslo?" }))).pipe(Effect.provide(layer))
      expect(list.at(-1)).toMatchObject({ _tag: "RunFinished", outcome: { _tag: "Completed", text: "It is 5C in Oslo." } })
      expect(list.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta)).toEqual(["Checking.", "It is ", "5C in Oslo."])
      expect(calls).toEqual(["get_weather:Oslo"])
      const [first, second] = fake.requests
      expect(first!.headers["authorization"]).toBe("Bearer inference-key")
      expect(first!.body).toMatchObject({
        model: "claude-4-sonnet",
        stream: true,
        tool_choice: "auto",
        tools: [
          { type: "function", function: { name: "get_weather", description: "Current weather for a city.", parameters: { type: "object", required: ["city"] } } },
          { type: "function", function: { name: "set_alarm" } }
        ]
      })
      expect(second!.body.messages.slice(-2)).toEqual([
        { role: "assistant", content: "Checking.", tool_calls: [{ id: "call_1_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
        { role: "tool", tool_call_id: "call_1_1", content: "Oslo: 5C, rain" }
      ])
    }))

  it.live("non-streaming mode reads one completion", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [S.toolCall("get_weather", { city: "Rome" }), S.text("Sunny.")] })
      const { layer, calls } = Harness.over(modelFor(fake, false))
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Rome?" })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Sunny." })
      expect(calls).toEqual(["get_weather:Rome"])
      expect(fake.requests[0]!.body.stream).toBe(false)
    }))

  it.live("sends all four tool-choice forms", () =>
    Effect.gen(function* () {
      const sent: Array<unknown> = []
      for (const toolChoice of ["none", "auto", "required", { function: "get_weather" }] as const) {
        const fake = yield* FakeHerokuInference.make({ chat: [S.text("ok")] })
        // One text answer: under a forced choice the run then stops (tool_choice) without re-prompting.
        const { layer } = Harness.over(modelFor(fake), { toolChoice, toolChoiceRetries: 0 })
        yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(layer))
        sent.push(fake.requests[0]!.body.tool_choice ?? "(no tools sent)")
      }
      expect(sent).toEqual(["(no tools sent)", "auto", "required", { type: "function", function: { name: "get_weather" } }])
    }))

  it.live("an error body becomes a typed ModelError with the status and message, never the key", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ key: "right-key", chat: [] })
      const { layer } = Harness.over(ChatModel.layer({ url: fake.url, key: Redacted.make("wrong-key"), model: "m" }))
      const error = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(layer), Effect.flip)
      expect(error).toMatchObject({ _tag: "ModelError", provider: "heroku", status: 401, retryable: false })
      expect(error.message).toBe("heroku answered 401: Invalid API key")
      expect(JSON.stringify(error)).not.toContain("wrong-key")
    }))

  it.live("a 503 is retried; a connection dropped mid-stream fails the step (retryable) and the run can be resumed", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        chat: [
          { status: 503, body: { error: { message: "overloaded" } } },
          { dropAfter: 2, turn: S.text(["partial ", "answer"]) },
          S.text("full answer")
        ]
      })
      const { layer } = Harness.over(modelFor(fake))
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const error = yield* Effect.flip(backend.run({ input: "x", runId: "drop" }))
        expect(error).toMatchObject({ _tag: "ModelError", retryable: true })
        expect(error.message).toContain("connection was lost")
        expect(Option.getOrThrow(yield* backend.getRun("drop")).status).toBe("failed")
        expect(yield* backend.resume("drop", [])).toMatchObject({ _tag: "Completed", text: "full answer" })
      }).pipe(Effect.provide(layer))
      expect(fake.requests).toHaveLength(3)
    }))

  it.live("a malformed data line is kept as a Raw event and the stream goes on", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        chat: [
          {
            frames: [
              { data: { choices: [{ index: 0, delta: { content: "Hello" } }] } },
              { data: "{this is not json" },
              { data: { choices: [{ index: 0, delta: { content: " world" }, finish_reason: "stop" }] } },
              { data: "[DONE]" }
            ]
          }
        ]
      })
      const { layer } = Harness.over(modelFor(fake))
      const events = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input: "x" }))).pipe(Effect.provide(layer))
      expect(events.find((e) => e._tag === "Raw")).toMatchObject({ source: "heroku", data: { malformed: "{this is not json" } })
      expect(events.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "Hello world" } })
    }))

  it.live("streams ask for usage (stream_options.include_usage), so usage is counted; servers that refuse it can turn it off", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [S.text("ok", { usage: { inputTokens: 30, outputTokens: 4 } })] })
      const { layer } = Harness.over(modelFor(fake))
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(layer))
      expect(fake.requests[0]!.body.stream_options).toEqual({ include_usage: true })
      expect(outcome).toMatchObject({ _tag: "Completed", usage: { inputTokens: 30, outputTokens: 4 } })

      const strict = yield* FakeHerokuInference.make({ rejectStreamOptions: true, chat: [S.text("ok")] })
      const refused = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(modelFor(strict)).layer), Effect.flip)
      expect(refused).toMatchObject({ _tag: "ModelError", status: 400 })
      const off = ChatModel.layer({ url: strict.url, key: Redacted.make(strict.key), model: strict.model, streamUsage: false })
      const answered = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(off).layer))
      expect(answered).toMatchObject({ _tag: "Completed", text: "ok" })
      expect(strict.requests.at(-1)!.body).not.toHaveProperty("stream_options")
    }))

  it.live("a 200 answer that is an error object fails the step with the provider's message (non-streaming)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ faults: [{ answer: { status: 200, body: { error: { message: "quota exhausted", type: "insufficient_quota" } } } }] })
      const error = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(modelFor(fake, false)).layer), Effect.flip)
      expect(error).toMatchObject({ _tag: "ModelError", reason: "provider-error", retryable: false })
      expect(error.message).toContain("quota exhausted")
    }))
})

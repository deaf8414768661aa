/**
 * Every hosted model's `layerFetch` runs over the runtime's own `fetch` (no HttpClient to provide), against
 * its fake on loopback, each fake started by its `layer` (no scope to manage): answers, tool calls, and for
 * the chat model the failure paths that depend on the client (a stalled stream cut by the idle timeout, a
 * dropped connection, a wrong key that never appears in the error).
 */
import { Agent, type AgentEvent, Approval, Tool, Toolkit } from "@agentloop/core"
import { AgentsModel, ChatModel } from "@agentloop/heroku"
import { HumanloopModel } from "@agentloop/humanloop"
import { LettaModel } from "@agentloop/letta"
import { FakeHerokuInference, FakeHumanloop, FakeLetta, FakeToolhouse, ScriptedModel } from "@agentloop/testing"
import { ToolhouseModel } from "@agentloop/toolhouse"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Redacted, References, Schema } from "effect"

const S = ScriptedModel
const GetWeather = Tool.make("get_weather", { description: "Weather for a city.", parameters: { city: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(GetWeather)
const agent = Agent.make({ name: "weather", toolkit })
const handlers = { get_weather: ({ city }: { readonly city: string }) => Effect.succeed(`${city}: 5C`) }
const noTools = Agent.make({ name: "hosted", toolkit: Toolkit.make() })

describe("layerFetch: hosted models over the runtime's fetch", () => {
  it.live("ChatModel: a streamed tool call and answer; the fake recorded the requests, and closed with its layer", () =>
    Effect.gen(function* () {
      const fakeLayer = FakeHerokuInference.layer({ chat: [S.toolCall("get_weather", { city: "Oslo" }), S.text(["It is ", "5C in Oslo."])] }, (fake) =>
        ChatModel.layerFetch(fake.connection)
      )
      const events: Array<AgentEvent.AgentEvent> = []
      const { outcome, fake } = yield* Effect.gen(function* () {
        const outcome = yield* Agent.run(agent, "Weather in Oslo?", { handlers, onEvent: (e) => void events.push(e) })
        return { outcome, fake: yield* FakeHerokuInference.Fake }
      }).pipe(Effect.provide(fakeLayer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "It is 5C in Oslo." })
      expect(events.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta)).toEqual(["It is ", "5C in Oslo."])
      expect(fake.requests).toHaveLength(2)
      expect(fake.requests[0]!.headers["authorization"]).toBe(`Bearer ${fake.key}`)
      expect(fake.requests[1]!.body.messages.at(-1)).toEqual({ role: "tool", tool_call_id: "call_1_1", content: "Oslo: 5C" })
      // The layer's scope has closed: the fake no longer listens.
      const refused = yield* Effect.promise(() => fetch(`${fake.url}/v1/chat/completions`).then(() => "answered", (error: Error) => error.message))
      expect(refused).toBe("fetch failed")
    }))

  it.live("ChatModel: a stalled stream is cut by the idle timeout, a dropped one fails retryable, a wrong key is a 401 without the key", () =>
    Effect.gen(function* () {
      const stalled = yield* Agent.run(noTools, "x", { handlers: {} }).pipe(
        Effect.provide(
          FakeHerokuInference.layer({ chat: [{ turn: S.text(["a", "b", "c"]), hostile: { stallAfter: { frames: 1, ms: 30_000 } } }] }, (fake) =>
            ChatModel.layerFetch({ ...fake.connection, retry: { maxRetries: 0 }, timeouts: { idle: "200 millis" } })
          )
        ),
        Effect.flip
      )
      expect(stalled).toMatchObject({ _tag: "ModelError", reason: "idle-timeout" })

      const dropped = yield* Agent.run(noTools, "x", { handlers: {} }).pipe(
        Effect.provide(
          FakeHerokuInference.layer({ chat: [{ dropAfter: 2, turn: S.text(["partial ", "answer"]) }] }, (fake) =>
            ChatModel.layerFetch({ ...fake.connection, retry: { maxRetries: 0 } })
          )
        ),
        Effect.flip
      )
      expect(dropped).toMatchObject({ _tag: "ModelError", retryable: true })

      const secret = "sk-planted-secret-4242"
      const unauthorized = yield* Agent.run(noTools, "x", { handlers: {} }).pipe(
        Effect.provide(FakeHerokuInference.layer({ chat: [] }, (fake) => ChatModel.layerFetch({ ...fake.connection, key: Redacted.make(secret) }))),
        Effect.flip
      )
      expect(unauthorized).toMatchObject({ _tag: "ModelError", status: 401, retryable: false })
      expect(`${unauthorized.message} ${JSON.stringify(unauthorized)}`).not.toContain(secret)
    }))

  it.live("ChatModel: a planted key never appears in the events, the logs or an error", () =>
    Effect.gen(function* () {
      const secret = "sk-planted-key-31337"
      const events: Array<AgentEvent.AgentEvent> = []
      const logs: Array<string> = []
      const logger = Layer.mergeAll(
        Logger.layer([Logger.make(({ message, cause }) => void logs.push(JSON.stringify(message), String(cause)))]),
        Layer.succeed(References.MinimumLogLevel, "All")
      )
      const answered = yield* Agent.run(agent, "Weather in Oslo?", { handlers, onEvent: (e) => void events.push(e) }).pipe(
        Effect.provide(
          FakeHerokuInference.layer(
            { key: secret, chat: [S.toolCall("get_weather", { city: "Oslo" }), { status: 503, body: { error: { message: "overloaded" } } }, S.text("5C.")] },
            (fake) => ChatModel.layerFetch({ ...fake.connection, retry: { baseDelay: "5 millis" } })
          )
        ),
        Effect.provide(logger)
      )
      expect(answered).toMatchObject({ _tag: "Completed", text: "5C." })
      const failed = yield* Agent.run(agent, "x", { handlers }).pipe(
        Effect.provide(FakeHerokuInference.layer({ key: "another-key", chat: [] }, (fake) => ChatModel.layerFetch({ ...fake.connection, key: Redacted.make(secret) }))),
        Effect.provide(logger),
        Effect.flip
      )
      expect(failed).toMatchObject({ _tag: "ModelError", status: 401 })
      const seen = [JSON.stringify(events), ...logs, failed.message, JSON.stringify(failed), String(failed.cause)].join("\n")
      expect(events.length).toBeGreaterThan(5)
      expect(seen).not.toContain(secret)
    }))

  it.live("AgentsModel: a hosted agent's answer", () =>
    Agent.run(noTools, "Hello", { handlers: {} }).pipe(
      Effect.provide(
        FakeHerokuInference.layer({ agents: [FakeHerokuInference.agentAnswer("Hi from Heroku.")] }, (fake) =>
          AgentsModel.layerFetch({ ...fake.connection, tools: [] })
        )
      ),
      Effect.map((outcome) => expect(outcome).toMatchObject({ _tag: "Completed", text: "Hi from Heroku." }))
    ))

  it.live("HumanloopModel: a local tool call, continued with its result", () =>
    Agent.run(agent, "Weather in Rome?", { handlers }).pipe(
      Effect.provide(
        FakeHumanloop.layer({ turns: [S.toolCall("get_weather", { city: "Rome" }), S.text("Sunny.")] }, (fake) =>
          HumanloopModel.layerFetch({ apiKey: Redacted.make(fake.apiKey), baseUrl: `${fake.url}/v5`, path: "Weather/Agent", agent: { model: "gpt-4o" } })
        )
      ),
      Effect.map((outcome) => expect(outcome).toMatchObject({ _tag: "Completed", text: "Sunny.", steps: 2 }))
    ))

  it.live("LettaModel: a client tool Letta asks for, approved and run here", () =>
    Agent.run(agent, "Weather in Lima?", { handlers, approvals: Approval.layerAutoApprove }).pipe(
      Effect.provide(
        FakeLetta.layer(
          { turns: [[{ kind: "client_tool", name: "get_weather", args: { city: "Lima" } }], [{ kind: "assistant", text: "Lima: 5C." }]] },
          (fake) => LettaModel.layerFetch({ baseUrl: fake.url, apiKey: Redacted.make(fake.apiKey), agentId: fake.agentId })
        )
      ),
      Effect.map((outcome) => expect(outcome).toMatchObject({ _tag: "Completed", text: "Lima: 5C." }))
    ))

  it.live("ToolhouseModel: an NDJSON answer", () =>
    Agent.run(noTools, "Hi", { handlers: {} }).pipe(
      Effect.provide(
        FakeToolhouse.layer({ answers: [[{ type: "text", text: "Hello from Toolhouse." }]] }, (fake) =>
          ToolhouseModel.layerFetch({ baseUrl: fake.url, agentId: fake.agentId })
        )
      ),
      Effect.map((outcome) => expect(outcome).toMatchObject({ _tag: "Completed", text: "Hello from Toolhouse." }))
    ))
})

/**
 * Context limits through the public API: a `ContextPolicy` layer trims what the model sees before each
 * step (local backend, and Heroku chat completions against its fake), the run state keeps everything,
 * and the summarising policy gives the model a summary of what was dropped.
 */
import { Agent, AgentBackend, Approval, ContextPolicy, type LanguageModel, Message, RunStore } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, Harness, ScriptedModel as S } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema } from "effect"

/** A long conversation so far: 30 turns, each a question, a weather lookup and an answer. */
const history = (): Array<Message.Message> => {
  const messages: Array<Message.Message> = []
  for (let i = 1; i <= 30; i++) {
    messages.push(Message.user(`Question ${i}: how is the weather in city ${i}? ${"padding ".repeat(20)}`))
    const call = { id: `call_h${i}`, name: "get_weather", arguments: JSON.stringify({ city: `city ${i}` }) }
    messages.push(Message.assistant("", [call]))
    messages.push(Message.toolResult({ toolCallId: call.id, toolName: "get_weather", content: `city ${i}: ${i}C`, isError: false }))
    messages.push(Message.assistant(`It is ${i}C in city ${i}.`))
  }
  messages.push(Message.user("And in Oslo?"))
  return messages
}

const agent = Agent.make({ name: "weather", instructions: "You report the weather.", toolkit: Harness.toolkit })

const backend = (model: Layer.Layer<LanguageModel.LanguageModel>, policy: Layer.Layer<ContextPolicy.ContextPolicy> | undefined) =>
  AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(model, Harness.handlers([]), Approval.layerAutoApprove, RunStore.layerMemory, policy ?? Layer.empty)
    )
  )

const runAndLoad = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  const outcome = yield* b.run({ input: history(), runId: "run_long" })
  const state = Option.getOrThrow(yield* b.getRun("run_long"))
  return { outcome, state }
})

const tokens = (messages: ReadonlyArray<Message.Message>) => messages.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)

describe("context limits", () => {
  it.effect("default: the model sees the whole conversation", () =>
    Effect.gen(function* () {
      const model = S.make([S.text("Sunny.")])
      yield* runAndLoad.pipe(Effect.provide(backend(model.layer, undefined)))
      expect(model.requests[0]!.messages).toHaveLength(1 + 30 * 4 + 1)
    }))

  it.effect("token budget on the local backend: each step fits the budget, calls stay with results, the state keeps everything", () =>
    Effect.gen(function* () {
      const model = S.make([S.toolCall("get_weather", { city: "Oslo" }, { id: "call_oslo" }), S.text("5C and rain in Oslo.")])
      const { outcome, state } = yield* runAndLoad.pipe(Effect.provide(backend(model.layer, ContextPolicy.layerTokenBudget({ maxTokens: 300 }))))
      expect(outcome._tag).toBe("Completed")
      for (const request of model.requests) {
        expect(tokens(request.messages)).toBeLessThanOrEqual(300)
        expect(request.messages[0]).toEqual(Message.system("You report the weather."))
        const called = new Set(request.messages.flatMap((m) => (m._tag === "AssistantMessage" ? m.toolCalls.map((c) => c.id) : [])))
        for (const m of request.messages) if (m._tag === "ToolMessage") expect(called.has(m.toolCallId)).toBe(true)
      }
      expect(model.requests[0]!.messages.at(-1)).toEqual(Message.user("And in Oslo?"))
      // The second step sees this step's call and its result.
      expect(model.requests[1]!.messages.slice(-2).map((m) => m._tag)).toEqual(["AssistantMessage", "ToolMessage"])
      expect(model.requests[0]!.messages.length).toBeLessThan(30)
      // Only the request is trimmed: the stored run has every message.
      expect(state.messages).toHaveLength(1 + 30 * 4 + 1 + 3)
    }))

  it.effect("last N turns", () =>
    Effect.gen(function* () {
      const model = S.make([S.text("Sunny.")])
      yield* runAndLoad.pipe(Effect.provide(backend(model.layer, ContextPolicy.layerLastTurns(2))))
      const sent = model.requests[0]!.messages
      expect(sent.map((m) => m._tag)).toEqual(["SystemMessage", "UserMessage", "AssistantMessage", "ToolMessage", "AssistantMessage", "UserMessage"])
      expect(sent[1]).toMatchObject({ content: expect.stringContaining("Question 30") })
    }))

  it.effect("summarising: what the budget drops is summarised by the model and given back as a system message", () =>
    Effect.gen(function* () {
      const model = S.make([
        S.respond((request) => {
          // The summary request: no tools, the dropped conversation as text.
          expect(request.toolChoice).toBe("none")
          const text = (request.messages[1] as Message.UserMessage).content
          expect(text).toContain("Question 1:")
          expect(text).toContain("tool get_weather: city 1: 1C")
          return S.text("Earlier: weather for cities 1 to 25.")
        }),
        S.text("Sunny.")
      ])
      const policy = Layer.effect(ContextPolicy.ContextPolicy, ContextPolicy.summarizing(ContextPolicy.tokenBudget({ maxTokens: 300 }))).pipe(Layer.provide(model.layer))
      yield* runAndLoad.pipe(Effect.provide(backend(model.layer, policy)))
      const sent = model.requests[1]!.messages
      expect(sent[0]).toEqual(Message.system("You report the weather."))
      expect(sent[1]).toEqual(Message.system("Summary of the earlier conversation:\nEarlier: weather for cities 1 to 25."))
      expect(sent.at(-1)).toEqual(Message.user("And in Oslo?"))
    }))

  it.effect("token budget on Heroku chat completions: the request body is trimmed, tool_calls keep their tool messages", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [S.toolCall("get_weather", { city: "Oslo" }), S.text("5C in Oslo.")] })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const { outcome, state } = yield* runAndLoad.pipe(Effect.provide(backend(model, ContextPolicy.layerTokenBudget({ maxTokens: 300 }))))
      expect(outcome._tag).toBe("Completed")
      expect(fake.requests).toHaveLength(2)
      for (const request of fake.requests) {
        const messages = request.body?.messages as Array<{ role: string; tool_calls?: Array<{ id: string }>; tool_call_id?: string; content: string | null }>
        expect(messages[0]).toEqual({ role: "system", content: "You report the weather." })
        expect(messages.length).toBeLessThan(30)
        messages.forEach((m, i) => {
          if (m.role !== "tool") return
          // A tool message follows its assistant message (or a sibling tool message of the same step).
          const owner = messages.slice(0, i).reverse().find((p) => p.role !== "tool")
          expect(owner?.tool_calls?.some((c) => c.id === m.tool_call_id)).toBe(true)
        })
      }
      expect(state.messages.length).toBeGreaterThan(120)
    }))

  it.effect("a budget the pinned messages exceed: the run stops with context_budget, nothing is sent, the state is stored stopped", () =>
    Effect.gen(function* () {
      const model = S.make([S.text("never sent")])
      const question = Message.user(`And in Oslo? ${"Context the user pasted. ".repeat(100)}`)
      const layer = backend(model.layerUnchecked, ContextPolicy.layerTokenBudget({ maxTokens: 300 }))
      const { outcome, state } = yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        const outcome = yield* b.run({ input: [...history(), question], runId: "run_too_big" })
        return { outcome, state: Option.getOrThrow(yield* b.getRun("run_too_big")) }
      }).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "context_budget", steps: 0, detail: expect.stringContaining("300 tokens") })
      expect(model.requests).toHaveLength(0)
      expect(state).toMatchObject({ status: "stopped", step: 0 })
    }))

  it.effect("lastTurns(1) after a typed-output re-prompt: the model still sees the question and the answer being corrected", () =>
    Effect.gen(function* () {
      const typed = Agent.make({ name: "weather", instructions: "You report the weather.", toolkit: Harness.toolkit, output: Schema.Struct({ celsius: Schema.Number }), outputMode: "text" })
      const model = S.make([
        S.text("It is warm."),
        S.respond((request) => {
          const sent = request.messages
          expect(sent.map((m) => m._tag)).toEqual(["SystemMessage", "UserMessage", "AssistantMessage", "UserMessage"])
          expect(sent[1]).toEqual(Message.user("And in Oslo?"))
          expect(sent[2]).toMatchObject({ text: "It is warm." })
          // The loop marks its re-prompt, so lastTurns does not take it for the user's turn.
          expect(sent[3]).toMatchObject({ _tag: "UserMessage", reprompt: "output" })
          return S.text('{"celsius": 5}')
        })
      ])
      const layer = AgentBackend.layerLocal(typed).pipe(
        Layer.provide(Layer.mergeAll(model.layer, Harness.handlers([]), Approval.layerAutoApprove, RunStore.layerMemory, ContextPolicy.layerLastTurns(1)))
      )
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: history() })).pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", output: { celsius: 5 } })
      yield* model.assertComplete
    }))
})

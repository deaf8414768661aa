import { LanguageModel, Message } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"

const request = (content: string): LanguageModel.ModelRequest => ({
  messages: [Message.user(content)],
  tools: [{ name: "echo", description: "echo", parameters: {} }],
  availableTools: [{ name: "echo", description: "echo", parameters: {} }],
  toolChoice: "auto",
  parallelToolCalls: true
})

const parts = (model: ScriptedModel.ScriptedModel, content: string) =>
  Stream.runCollect(model.service.streamStep(request(content)))

describe("ScriptedModel", () => {
  it.effect("plays text chunks, tool calls with deterministic ids, and a finish with usage", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([
        ScriptedModel.text(["Hel", "lo"], { usage: { inputTokens: 3, outputTokens: 2 } }),
        ScriptedModel.toolCalls([{ name: "echo", args: { text: "x" } }, { name: "echo", args: "{broken", id: "mine" }])
      ])
      expect(yield* parts(model, "a")).toEqual([
        { _tag: "TextDelta", delta: "Hel" },
        { _tag: "TextDelta", delta: "lo" },
        { _tag: "Finish", reason: "stop", usage: new Message.Usage({ inputTokens: 3, outputTokens: 2, totalTokens: 5 }) }
      ])
      const second = yield* parts(model, "b")
      expect(second.slice(0, 2)).toEqual([
        LanguageModel.toolCall({ id: "call_2_1", name: "echo", arguments: '{"text":"x"}' }),
        LanguageModel.toolCall({ id: "mine", name: "echo", arguments: "{broken" })
      ])
      expect(second[2]).toMatchObject({ _tag: "Finish", reason: "tool_calls" })
      yield* model.assertComplete
    }))

  it.effect("records every request: messages, offered tools, tool choice", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([ScriptedModel.text("one")])
      yield* parts(model, "hello")
      expect(model.requests).toEqual([
        {
          index: 0,
          messages: [Message.user("hello")],
          tools: ["echo"],
          toolDefinitions: [{ name: "echo", description: "echo", parameters: {} }],
          toolChoice: "auto",
          parallelToolCalls: true
        }
      ])
    }))

  it.effect("error turns fail the step with ModelError", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([ScriptedModel.error("rate limited", { retryable: true })])
      const error = yield* parts(model, "x").pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "ModelError", message: "rate limited", retryable: true })
    }))

  it.effect("respond turns compute the reply from the request", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([
        ScriptedModel.respond((req) => ScriptedModel.text(`you said ${(req.messages[0] as Message.UserMessage).content}`))
      ])
      expect(yield* parts(model, "ping")).toContainEqual({ _tag: "TextDelta", delta: "you said ping" })
    }))

  it.effect("delays wait on the clock before answering", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([ScriptedModel.text("late", { delay: "5 seconds" })])
      const fiber = yield* Effect.forkChild(parts(model, "x"))
      yield* TestClock.adjust("4 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toContainEqual({ _tag: "TextDelta", delta: "late" })
    }))

  it.effect("running out of turns is a ScriptDrift defect naming the request", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([])
      const exit = yield* parts(model, "x").pipe(Effect.exit)
      expect(JSON.stringify(exit)).toContain("request #1 arrived but the script has only 0 turn(s)")
      expect(yield* model.assertComplete.pipe(Effect.result)).toMatchObject({ _tag: "Success" })
    }))
})

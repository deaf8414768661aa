/** Tool calls a provider sends without an id get one that is unique in the run (never `call_<index>`, which repeats every step). */
import type { LanguageModel } from "@agentloop/core"
import { ChatCompletions } from "@agentloop/wire"
import { describe, expect, it } from "vitest"

const idsOf = (parts: ReadonlyArray<LanguageModel.ResponsePart>) => parts.flatMap((part) => (part._tag === "ToolCall" ? [part.call.id] : []))

const completion = {
  choices: [{ index: 0, finish_reason: "tool_calls", message: { role: "assistant", tool_calls: [{ type: "function", function: { name: "echo", arguments: "{}" } }] } }]
}
const chunk = { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, type: "function", function: { name: "echo", arguments: "{}" } }] } }] }

describe("ChatCompletions: ids for calls sent without one", () => {
  it("whole completions: every step gets a new id, none of them call_0", () => {
    const ids = Array.from({ length: 20 }, () => idsOf(ChatCompletions.fromCompletion(completion)))
    expect(ids.every((step) => step.length === 1 && step[0]!.length > 0 && step[0] !== "call_0")).toBe(true)
    expect(new Set(ids.flat()).size).toBe(20)
  })

  it("streamed chunks: every step gets a new id", () => {
    const ids = Array.from({ length: 20 }, () => {
      const accumulator = new ChatCompletions.ChunkAccumulator()
      accumulator.push(chunk)
      return idsOf(accumulator.end())
    })
    expect(ids.every((step) => step.length === 1 && step[0] !== "call_0")).toBe(true)
    expect(new Set(ids.flat()).size).toBe(20)
  })

  it("a provider's own id is kept", () => {
    const withId = { choices: [{ index: 0, message: { tool_calls: [{ id: "call_abc", type: "function", function: { name: "echo", arguments: "{}" } }] } }] }
    expect(idsOf(ChatCompletions.fromCompletion(withId))).toEqual(["call_abc"])
  })
})

import { ContextPolicy, Message } from "@agentloop/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"

/** A random conversation: a system message, then turns of user text and assistant steps with tool calls and results. */
const conversation = fc
  .array(
    fc.record({
      user: fc.string({ maxLength: 80 }),
      steps: fc.array(fc.record({ calls: fc.integer({ min: 0, max: 3 }), text: fc.string({ maxLength: 60 }), result: fc.string({ maxLength: 120 }) }), { maxLength: 3 })
    }),
    { minLength: 1, maxLength: 12 }
  )
  .map((turns) => {
    const messages: Array<Message.Message> = [Message.system("You are helpful.")]
    let id = 0
    for (const turn of turns) {
      messages.push(Message.user(turn.user))
      for (const step of turn.steps) {
        const calls = Array.from({ length: step.calls }, () => ({ id: `c${++id}`, name: "lookup", arguments: JSON.stringify({ q: step.text }) }))
        messages.push(Message.assistant(step.text, calls))
        for (const call of calls) messages.push(Message.toolResult({ toolCallId: call.id, toolName: "lookup", content: step.result, isError: false }))
      }
    }
    return messages
  })

/** Every tool result sent has its call in an assistant message sent before it, and every call sent has its result. */
const callsIntact = (messages: ReadonlyArray<Message.Message>) => {
  const called = new Set<string>()
  const answered = new Set<string>()
  for (const m of messages) {
    if (m._tag === "AssistantMessage") for (const c of m.toolCalls) called.add(c.id)
    if (m._tag === "ToolMessage") {
      if (!called.has(m.toolCallId)) return false
      answered.add(m.toolCallId)
    }
  }
  return [...called].every((id) => answered.has(id))
}

const isSubsequence = (sub: ReadonlyArray<unknown>, all: ReadonlyArray<unknown>) => {
  let i = 0
  for (const item of all) if (item === sub[i]) i++
  return i === sub.length
}

describe("ContextPolicy", () => {
  it("tokenBudget: never separates a call from its result, keeps the system message and the newest block, stays in budget when it can", () =>
    fc.assert(
      fc.property(conversation, fc.integer({ min: 1, max: 400 }), (messages, maxTokens) => {
        const selected = Effect.runSync(ContextPolicy.tokenBudget({ maxTokens }).select(messages))
        expect(isSubsequence(selected, messages)).toBe(true)
        expect(callsIntact(selected)).toBe(true)
        expect(selected[0]).toBe(messages[0])
        expect(selected.at(-1)).toBe(messages.at(-1))
        const blocks = ContextPolicy.blocks(messages)
        const last = blocks.at(-1)!
        const floor = messages.slice(last.start).reduce((n, m) => n + ContextPolicy.approximateTokens(m), ContextPolicy.approximateTokens(messages[0]!))
        const used = selected.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)
        expect(used <= Math.max(maxTokens, floor)).toBe(true)
      }),
      { numRuns: 300 }
    ))

  it("lastTurns: the system message plus everything from the n-th last user message", () =>
    fc.assert(
      fc.property(conversation, fc.integer({ min: 1, max: 5 }), (messages, n) => {
        const selected = Effect.runSync(ContextPolicy.lastTurns(n).select(messages))
        expect(callsIntact(selected)).toBe(true)
        expect(selected[0]).toBe(messages[0])
        expect(selected.filter((m) => m._tag === "UserMessage").length).toBe(Math.min(n, messages.filter((m) => m._tag === "UserMessage").length))
        expect(selected.at(-1)).toBe(messages.at(-1))
      })
    ))

  it("a pluggable counter decides the budget", () => {
    const messages = [Message.system("s"), Message.user("a"), Message.assistant("b"), Message.user("c")]
    const onePerMessage = ContextPolicy.tokenBudget({ maxTokens: 3, counter: () => 1 })
    expect(Effect.runSync(onePerMessage.select(messages))).toEqual([Message.system("s"), Message.assistant("b"), Message.user("c")])
  })

  it("bad limits are refused when the policy is made", () => {
    expect(() => ContextPolicy.lastTurns(0)).toThrow(TypeError)
    expect(() => ContextPolicy.tokenBudget({ maxTokens: 0 })).toThrow(TypeError)
  })
})

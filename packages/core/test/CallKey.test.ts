import { describe, expect, it } from "vitest"
import * as CallKey from "../src/internal/callKey.js"
import type { Message } from "../src/Message.js"

/** A history where the provider sends `call_0` on every step: one assistant message and one result per step. */
const history = (steps: number): Array<Message> => {
  const messages: Array<Message> = [{ _tag: "UserMessage", content: "go" }]
  for (let step = 1; step <= steps; step++) {
    messages.push({ _tag: "AssistantMessage", text: "", toolCalls: [{ id: "call_0", name: "deploy", arguments: "{}" }, { id: `own_${step}`, name: "deploy", arguments: "{}" }] })
    messages.push({ _tag: "ToolMessage", toolCallId: "call_0", toolName: "deploy", content: "ok" } as Message)
  }
  return messages
}

/** The length of the history when step `step`'s calls started (its assistant message last). */
const lengthAt = (step: number) => 1 + 2 * (step - 1) + 1

describe("CallKey (pure)", () => {
  it("a repeated id is qualified by its step, a first use is not; the cache reads each message once", () => {
    const messages = history(3)
    const seen = CallKey.seenIds(undefined)
    expect(CallKey.repeatedAt(seen, messages, lengthAt(1), 1, "call_0")).toBeUndefined()
    expect(CallKey.repeatedAt(seen, messages, lengthAt(2), 2, "call_0")).toBe(2)
    expect(CallKey.repeatedAt(seen, messages, lengthAt(2), 2, "own_2")).toBeUndefined()
    expect(CallKey.repeatedAt(seen, messages, lengthAt(3), 3, "call_0")).toBe(3)
    expect(seen.scanned).toBe(lengthAt(3) - 1)
  })

  it("asked late (after later steps filled the cache), a call gets the answer it got during its step", () => {
    const messages = history(3)
    const seen = CallKey.seenIds(undefined)
    expect(CallKey.repeatedAt(seen, messages, lengthAt(3), 3, "own_3")).toBeUndefined()
    // Step 2's first-used id and step 1's call, read after step 3 filled the cache with their ids:
    expect(CallKey.repeatedAt(seen, messages, lengthAt(2), 2, "own_2")).toBeUndefined()
    expect(CallKey.repeatedAt(seen, messages, lengthAt(1), 1, "call_0")).toBeUndefined()
    expect(CallKey.repeatedAt(seen, messages, lengthAt(2), 2, "call_0")).toBe(2)
  })

  it("ids a handoff dropped from the history count as used, early or late", () => {
    const messages: Array<Message> = [
      { _tag: "UserMessage", content: "go" },
      { _tag: "AssistantMessage", text: "", toolCalls: [{ id: "call_0", name: "refund", arguments: "{}" }] }
    ]
    expect(CallKey.repeatedAt(CallKey.seenIds(["call_0"]), messages, 2, 4, "call_0")).toBe(4)
    const late = CallKey.seenIds(["call_0"])
    late.scanned = 5
    expect(CallKey.repeatedAt(late, messages, 2, 4, "call_0")).toBe(4)
  })

  it("keys and child run ids: the plain form for a first use, the step form for a repeat", () => {
    expect(CallKey.idempotencyKey("r", "call_0", undefined)).toBe("r:call_0")
    expect(CallKey.idempotencyKey("r", "call_0", 2)).toBe("r:2:call_0")
    expect(CallKey.childRunId("r", "call/0", undefined)).toBe("r.call_0")
    expect(CallKey.childRunId("r", "call/0", 2)).toBe("r.2.call_0")
  })
})

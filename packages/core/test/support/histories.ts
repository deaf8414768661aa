/**
 * Random conversations as the loop builds them, for property tests of context policies and handoff filters:
 * user turns, tool steps (some failing), sub-agent calls, provider approval requests and answers, remote
 * calls, the loop's re-prompts (marked, or worded as in runs stored before marks) and handoffs (the history
 * passed through `Handoff.transfer` with a built-in filter, the target's instructions leading it).
 */
import { Handoff, Message, Output, ToolRuleSolver } from "@agentloop/core"
import * as fc from "fast-check"

const text = (max: number) => fc.string({ maxLength: max })

const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("user" as const), text: text(240) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("tools" as const),
      calls: fc.integer({ min: 1, max: 3 }),
      text: text(60),
      result: text(400),
      failed: fc.boolean()
    })
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("subAgent" as const), input: text(120), answer: text(300) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("approval" as const), approved: fc.boolean(), reason: text(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remote" as const), result: text(200) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("reprompt" as const),
      which: fc.constantFrom("tool_choice" as const, "output" as const, "required_tools" as const),
      marked: fc.boolean(),
      answer: text(200)
    })
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("handoff" as const), to: fc.constantFrom("billing", "triage", ""), filter: fc.constantFrom("none", "removeToolCalls", "lastUserMessage") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("answer" as const), text: text(200) }) }
)

const repromptText = (which: "tool_choice" | "output" | "required_tools"): string =>
  which === "tool_choice"
    ? "[This is an automated system message hidden from the user] ToolChoiceViolated: You must call lookup now; answer with a tool call, not text."
    : which === "output"
      ? Output.reprompt("Expected number\n  at [\"total\"]", "final_answer")
      : ToolRuleSolver.requiredBeforeExitPrompt(["save"])

const filters = { none: undefined, removeToolCalls: Handoff.removeToolCalls, lastUserMessage: Handoff.lastUserMessage }

/** A conversation the loop could ask the model about (leading system message or not, any mix of steps). */
export const history: fc.Arbitrary<ReadonlyArray<Message.Message>> = fc
  .record({ system: fc.constantFrom("You route customer requests.", "A caller's own system message.", ""), ops: fc.array(op, { minLength: 1, maxLength: 24 }) })
  .map(({ ops, system }) => {
    let messages: Array<Message.Message> = system === "" ? [] : [Message.system(system)]
    let id = 0
    const call = (name: string, args: unknown) => ({ id: `call_${++id}`, name, arguments: JSON.stringify(args) })
    for (const o of ops) {
      switch (o.kind) {
        case "user":
          messages.push(Message.user(o.text))
          break
        case "tools": {
          const calls = Array.from({ length: o.calls }, () => call("lookup", { q: o.text }))
          messages.push(Message.assistant(o.text, calls))
          for (const c of calls) messages.push(Message.toolResult({ toolCallId: c.id, toolName: c.name, content: o.result, isError: o.failed }))
          break
        }
        case "subAgent": {
          const c = call("research", { input: o.input })
          messages.push(Message.assistant("", [c]))
          messages.push(Message.toolResult({ toolCallId: c.id, toolName: c.name, content: o.answer, isError: false }))
          break
        }
        case "approval": {
          const c = call("web_deploy", { version: "1" })
          messages.push(Message.assistant("", [], { approvalRequests: [c] }))
          messages.push({ _tag: "ApprovalMessage", toolCallId: c.id, toolName: c.name, approved: o.approved, ...(o.approved ? {} : { reason: o.reason }) })
          break
        }
        case "remote": {
          const c = { ...call("web_search", {}), remote: true }
          messages.push(Message.assistant("", [c]))
          messages.push(Message.toolResult({ toolCallId: c.id, toolName: c.name, content: o.result, isError: false }))
          break
        }
        case "reprompt":
          messages.push(Message.assistant(o.answer))
          messages.push(o.marked ? Message.reprompt(o.which, repromptText(o.which)) : Message.user(repromptText(o.which)))
          break
        case "handoff": {
          const c = call(`transfer_to_${o.to || "x"}`, {})
          messages.push(Message.assistant("", [c]))
          messages.push(Message.toolResult({ toolCallId: c.id, toolName: c.name, content: Handoff.transferResult(o.to), isError: false }))
          const to = o.to === "" ? "" : `You are ${o.to}.`
          const moved = Handoff.transfer(messages, { system: "" }, { system: to }, filters[o.filter as keyof typeof filters])
          if (moved._tag === "Success") messages = moved.success
          break
        }
        case "answer":
          messages.push(Message.assistant(o.text))
          break
      }
    }
    return messages
  })

// ---------------------------------------------------------------------------------------------------------
// The invariants, written independently of the policies' own block code.

const legacy = ["[This is an automated system message hidden from the user] ", "Your final answer does not match the required output schema: "]
/** A loop re-prompt: marked, or worded as one. */
export const isReprompt = (m: Message.Message): boolean =>
  m._tag === "UserMessage" && (m.reprompt !== undefined || legacy.some((p) => m.content.startsWith(p)))
export const isTurn = (m: Message.Message): boolean => m._tag === "UserMessage" && !isReprompt(m)
const toolish = (m: Message.Message) => m._tag === "ToolMessage" || m._tag === "ApprovalMessage"

/** The messages every request must carry: system messages, the newest user turn, the current step. */
export const pinnedIndexes = (messages: ReadonlyArray<Message.Message>): Set<number> => {
  const pinned = new Set<number>()
  messages.forEach((m, i) => m._tag === "SystemMessage" && pinned.add(i))
  for (let i = messages.length - 1; i >= 0; i--) {
    if (isTurn(messages[i]!)) {
      pinned.add(i)
      break
    }
  }
  let i = messages.length - 1
  while (i >= 0 && isReprompt(messages[i]!)) pinned.add(i--)
  if (i >= 0) {
    // The block ending at i: tool results and approval answers back to their assistant message.
    let j = i
    while (j >= 0 && toolish(messages[j]!)) pinned.add(j--)
    if (j >= 0 && (j === i || messages[j]!._tag === "AssistantMessage")) pinned.add(j)
  }
  return pinned
}

/** Every result sent has its call sent before it; every call sent has every result the history holds for it. */
export const pairsIntact = (sent: ReadonlyArray<Message.Message>, all: ReadonlyArray<Message.Message>): boolean => {
  const called = new Set<string>()
  const answered = new Set<string>()
  for (const m of sent) {
    if (m._tag === "AssistantMessage") for (const c of [...m.toolCalls, ...(m.approvalRequests ?? [])]) called.add(c.id)
    if (toolish(m)) {
      const id = (m as Message.ToolMessage | Message.ApprovalMessage).toolCallId
      if (!called.has(id)) return false
      answered.add(id)
    }
  }
  for (const m of all) {
    if (toolish(m) && called.has((m as Message.ToolMessage).toolCallId) && !answered.has((m as Message.ToolMessage).toolCallId)) return false
  }
  return true
}

export const isSubsequence = (sub: ReadonlyArray<unknown>, all: ReadonlyArray<unknown>): boolean => {
  let i = 0
  for (const item of all) if (item === sub[i]) i++
  return i === sub.length
}

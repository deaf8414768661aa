/** The pure parts of handoffs: input filters, the history transfer and the graph's checks. */
import { Agent, Handoff, Message, Output, Toolkit, ToolRule, ToolRuleSolver } from "@agentloop/core"
import { Result } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { history as loopHistory, isReprompt, isTurn } from "./support/histories.js"

const history: ReadonlyArray<Message.Message> = [
  Message.user("refund order 42"),
  Message.assistant("Looking it up.", [{ id: "c1", name: "lookup_order", arguments: "{}" }]),
  Message.toolResult({ toolCallId: "c1", toolName: "lookup_order", content: "paid", isError: false }),
  Message.assistant("", [{ id: "c2", name: "transfer_to_billing", arguments: "{}" }]),
  Message.toolResult({ toolCallId: "c2", toolName: "transfer_to_billing", content: '{"assistant":"billing"}', isError: false }),
  { _tag: "ApprovalMessage", toolCallId: "r1", toolName: "remote", approved: true },
  Message.user("thanks")
]

describe("Handoff input filters", () => {
  it("removeToolCalls keeps user messages and assistant text, drops calls, results and approval answers", () => {
    expect(Handoff.removeToolCalls(history)).toEqual([Message.user("refund order 42"), Message.assistant("Looking it up."), Message.user("thanks")])
  })

  it("lastUserMessage keeps only the newest user message; compose applies left to right", () => {
    expect(Handoff.lastUserMessage(history)).toEqual([Message.user("thanks")])
    expect(Handoff.lastUserMessage([Message.assistant("hi")])).toEqual([])
    const drop = (messages: ReadonlyArray<Message.Message>) => messages.slice(1)
    expect(Handoff.compose(Handoff.removeToolCalls, drop)(history)).toEqual([Message.assistant("Looking it up."), Message.user("thanks")])
  })

  it("transfer swaps the source's system prompt for the target's; so it does a caller's own or an older one (issue 25)", () => {
    const own = [Message.system("Source."), ...history]
    expect(Handoff.transfer(own, { system: "Source." }, { system: "Target." }, Handoff.lastUserMessage)).toEqual(
      Result.succeed([Message.system("Target."), Message.user("thanks")])
    )
    expect(Handoff.transfer(own, { system: "Source." }, { system: "" }, Handoff.lastUserMessage)).toEqual(Result.succeed([Message.user("thanks")]))
    // Issue 25 changed this: a leading system message the source did not write (the caller's, or a stored run's
    // older prompt) no longer keeps the target from speaking under its own instructions.
    const users = [Message.system("The user's own."), Message.user("q")]
    expect(Handoff.transfer(users, { system: "Source." }, { system: "Target." }, undefined)).toEqual(Result.succeed([Message.system("Target."), Message.user("q")]))
    const older = [Message.system("Source, as it was worded last month."), Message.user("q")]
    expect(Handoff.transfer(older, { system: "Source." }, { system: "Target." }, undefined)).toEqual(Result.succeed([Message.system("Target."), Message.user("q")]))
    // A filter that returns a system message first still gets the target's instructions before it.
    expect(Handoff.transfer(users, { system: "" }, { system: "Target." }, () => [Message.system("kept by the filter")])).toEqual(
      Result.succeed([Message.system("Target."), Message.system("kept by the filter")])
    )
    expect(Handoff.transfer(own, { system: "Source." }, { system: "T" }, () => 1 as never)).toEqual(
      Result.fail("the handoff's input filter did not return an array of messages")
    )
  })

  it("default tool names are valid tool names", () => {
    expect(Handoff.toolNameFor("billing agent (EU)")).toBe("transfer_to_billing_agent__EU_")
    expect(Handoff.toolNameFor("x".repeat(100))).toHaveLength(64)
  })

  it("resolve gives every reachable agent its handoff tools and the starting agent's budget", () => {
    const c = Agent.make({ name: "c", toolkit: Toolkit.make(), maxSteps: 3 })
    const b = Agent.make({ name: "b", toolkit: Toolkit.make(), handoffs: [Handoff.make(c)] })
    const a = Agent.make({ name: "a", toolkit: Toolkit.make(), maxSteps: 7, maxHandoffs: 4, handoffs: [Handoff.make(b), Handoff.make((): Handoff.Target => c)] })
    const graph = Result.getOrThrow(Handoff.resolve(a))
    expect([...graph.nodes.keys()]).toEqual(["a", "b", "c"])
    expect(graph.nodes.get("a")!.agent.toolkit.names).toEqual(["transfer_to_b", "transfer_to_c"])
    expect(graph.nodes.get("c")!.agent).toMatchObject({ maxSteps: 7, maxHandoffs: 4 })
    expect([...graph.nodes.get("b")!.routes.values()]).toEqual([{ tool: "transfer_to_c", to: "c", inputFilter: undefined }])
  })
})

describe("Handoff filters skip the loop's re-prompts (issue 25)", () => {
  const toolChoice = "[This is an automated system message hidden from the user] ToolChoiceViolated: You must call lookup_order now; answer with a tool call, not text."
  const withReprompts: ReadonlyArray<Message.Message> = [
    Message.user("refund order 42"),
    Message.assistant("Let me see."),
    Message.reprompt("tool_choice", toolChoice),
    Message.assistant("", [{ id: "c1", name: "transfer_to_billing", arguments: "{}" }]),
    Message.toolResult({ toolCallId: "c1", toolName: "transfer_to_billing", content: '{"assistant":"billing"}', isError: false }),
    Message.assistant("{bad json"),
    // Stored before re-prompts were marked: recognised by their wording.
    Message.user(Output.reprompt("Expected number")),
    Message.user(ToolRuleSolver.requiredBeforeExitPrompt(["save"]))
  ]

  it("lastUserMessage is the customer's request, never a re-prompt (marked or stored before marks)", () => {
    expect(Handoff.lastUserMessage(withReprompts)).toEqual([Message.user("refund order 42")])
    expect(Handoff.lastUserMessage([Message.reprompt("output", "redo")])).toEqual([])
  })

  it("removeToolCalls drops the re-prompts with the calls", () => {
    expect(Handoff.removeToolCalls(withReprompts)).toEqual([Message.user("refund order 42"), Message.assistant("Let me see."), Message.assistant("{bad json")])
  })

  it("over 2000 loop-shaped histories: no built-in filter passes a re-prompt on, and lastUserMessage is the newest user turn", () =>
    fc.assert(
      fc.property(loopHistory, (messages) => {
        const rest = messages[0]?._tag === "SystemMessage" ? messages.slice(1) : messages
        for (const filter of [Handoff.lastUserMessage, Handoff.removeToolCalls, Handoff.compose(Handoff.removeToolCalls, Handoff.lastUserMessage)]) {
          expect(filter(rest).some(isReprompt)).toBe(false)
        }
        const turns = rest.filter(isTurn)
        expect(Handoff.lastUserMessage(rest)).toEqual(turns.length === 0 ? [] : [turns.at(-1)])
        // Whatever leads the history, the target's instructions lead what it gets.
        const moved = Result.getOrThrow(Handoff.transfer(messages, { system: "not what the history says" }, { system: "Target." }, undefined))
        expect(moved[0]).toEqual(Message.system("Target."))
        expect(moved.slice(1)).toEqual(rest)
      }),
      { numRuns: 2000 }
    ))

  it("restartRules: the target's rule history starts fresh, every call so far keeps spending max-count budgets", () => {
    const solver = { history: ["lookup_order", "refund"], lastOutput: "refunded" as string | undefined, failed: ["refund"] }
    Handoff.restartRules(solver)
    expect(solver).toEqual({ history: [], lastOutput: undefined, failed: ["refund", "lookup_order", "refund"] })
    const compiled = ToolRuleSolver.compile([ToolRule.maxCountPerStep("refund", 2)])
    expect(ToolRuleSolver.plan(compiled, ["refund", "lookup_order"], solver).allowed).toEqual(["lookup_order"])
  })
})

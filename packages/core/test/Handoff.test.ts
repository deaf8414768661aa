/** The pure parts of handoffs: input filters, the history transfer and the graph's checks. */
import { Agent, Handoff, Message, Toolkit } from "@agentloop/core"
import { Result } from "effect"
import { describe, expect, it } from "vitest"

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

  it("transfer swaps the source's system prompt for the target's; a user's own system message is kept", () => {
    const own = [Message.system("Source."), ...history]
    expect(Handoff.transfer(own, { system: "Source." }, { system: "Target." }, Handoff.lastUserMessage)).toEqual(
      Result.succeed([Message.system("Target."), Message.user("thanks")])
    )
    expect(Handoff.transfer(own, { system: "Source." }, { system: "" }, Handoff.lastUserMessage)).toEqual(Result.succeed([Message.user("thanks")]))
    const users = [Message.system("The user's own."), Message.user("q")]
    expect(Handoff.transfer(users, { system: "Source." }, { system: "Target." }, undefined)).toEqual(Result.succeed(users))
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

/**
 * Call triage is pure (`internal/loop/triage.ts`): given the bound agent and the run as it stands, it decides
 * what to do with a call and writes nothing. Rules come before tool choice, argument checks before approvals,
 * and the approval request binds the call by its digest.
 */
import { Approval, Message, type RunState, type Tool, ToolRule, ToolRuleSolver } from "@agentloop/core"
import { describe, expect, it } from "vitest"
import * as Triage from "../src/internal/loop/triage.js"
import { Deploy, Echo, Finish } from "./fixtures.js"

const agentOf = (tools: ReadonlyArray<Tool.Any>, rules: ReadonlyArray<ToolRule.ToolRule> = []): Triage.Agent => ({
  toolkit: { tools: new Map(tools.map((tool) => [tool.name, tool])), handlers: new Map(), definitions: tools.map((tool) => tool.definition) },
  names: tools.map((tool) => tool.name),
  routes: undefined,
  compiled: ToolRuleSolver.compile(rules)
})

const view = (fields: Partial<Triage.View> = {}): Triage.View => ({
  runId: "run-1",
  step: 1,
  agent: undefined,
  pending: [],
  decisions: new Map(),
  inFlight: undefined,
  solver: { history: [], lastOutput: undefined },
  choice: "auto",
  messages: [],
  ...fields
})

const call = (name: string, args: unknown, id = "c1") => Message.toolCall({ id, name, arguments: JSON.stringify(args) })

/** A deep copy to compare against: triage must leave its inputs as they were. */
const snapshot = (v: Triage.View) => JSON.stringify({ ...v, decisions: [...v.decisions], inFlight: v.inFlight && [...v.inFlight] })

describe("judge: one of our own calls", () => {
  const agent = agentOf([Echo, Deploy, Finish], [ToolRule.init("echo", { args: { text: "prefilled" } }), ToolRule.terminal("finish")])

  it("refuses an unknown tool, bad JSON and a call the rules forbid, before anything else", () => {
    const v = view()
    expect(Triage.judge(agent, v, call("nope", {}))).toMatchObject({ _tag: "Result", execution: { errorKind: "UnknownTool" } })
    expect(Triage.judge(agent, v, Message.toolCall({ id: "c1", name: "echo", arguments: "{oops" }))).toMatchObject({
      _tag: "Result",
      execution: { errorKind: "InvalidArguments" }
    })
    // The init rule allows only `echo` first: a gated call of another tool is refused without asking anyone.
    expect(Triage.judge(agent, v, call("deploy", { version: "1" }))).toMatchObject({ _tag: "Result", execution: { errorKind: "RuleViolation" } })
  })

  it("applies the rules' prefill and names it; the step's tool choice refuses other tools", () => {
    expect(Triage.judge(agent, view(), call("echo", { text: "model" }))).toEqual({ _tag: "Execute", args: { text: "prefilled" }, prefilledBy: "Init(echo)" })
    const free = agentOf([Echo, Deploy])
    expect(Triage.judge(free, view({ choice: { function: "deploy" } }), call("echo", { text: "x" }))).toMatchObject({
      _tag: "Result",
      execution: { errorKind: "RuleViolation" }
    })
    expect(Triage.judge(free, view({ choice: "none" }), call("echo", { text: "x" }))).toMatchObject({ _tag: "Result" })
  })

  it("asks about a gated call with a request that binds the run, the call, the tool, the arguments and the agent; decodes first", () => {
    const free = agentOf([Echo, Deploy])
    const asked = Triage.judge(free, view({ agent: "ops" }), call("deploy", { version: "1" }))
    expect(asked).toMatchObject({ _tag: "Ask", onApproved: { _tag: "Execute", args: { version: "1" } } })
    const request = (asked as Triage.Ask).request
    expect(request).toMatchObject({ runId: "run-1", toolCallId: "c1", toolName: "deploy", agent: "ops", argumentsDigest: Approval.argumentsDigest({ version: "1" }) })
    expect(request.callDigest).toBe(Approval.callDigest({ runId: "run-1", toolCallId: "c1", toolName: "deploy", arguments: { version: "1" }, agent: "ops" }))
    for (const other of [
      { runId: "run-2", toolCallId: "c1", toolName: "deploy", arguments: { version: "1" }, agent: "ops" },
      { runId: "run-1", toolCallId: "c2", toolName: "deploy", arguments: { version: "1" }, agent: "ops" },
      { runId: "run-1", toolCallId: "c1", toolName: "destroy", arguments: { version: "1" }, agent: "ops" },
      { runId: "run-1", toolCallId: "c1", toolName: "deploy", arguments: { version: "2" }, agent: "ops" },
      { runId: "run-1", toolCallId: "c1", toolName: "deploy", arguments: { version: "1" } }
    ]) {
      expect(Approval.callDigest(other)).not.toBe(request.callDigest)
    }
    // Arguments its schema refuses: a result, never a question (the call was past the rules: it is announced).
    expect(Triage.judge(free, view(), call("deploy", { version: 7 }))).toMatchObject({
      _tag: "Result",
      execution: { errorKind: "InvalidArguments" },
      called: { args: { version: 7 } }
    })
  })

  it("writes nothing", () => {
    const v = view({ solver: { history: ["echo"], lastOutput: "x" } })
    const before = snapshot(v)
    Triage.judge(agent, v, call("finish", {}))
    Triage.judge(agent, v, call("deploy", { version: "1" }))
    expect(snapshot(v)).toBe(before)
  })
})

describe("settlePending: a call waiting for an approval", () => {
  const pending = (fields: Partial<Approval.PendingApproval> = {}) =>
    new Approval.PendingApproval({
      approvalId: "apr_1",
      runId: "run-1",
      toolCallId: "c1",
      toolName: "deploy",
      arguments: { version: "1" },
      argumentsDigest: Approval.argumentsDigest({ version: "1" }),
      step: 1,
      requestedAt: 0,
      ...fields
    })

  it("stays pending without a decision; is denied once expired; runs as approved, or gets the denial", () => {
    const p = pending({ expiresAt: 100 })
    expect(Triage.settlePending(view(), p, false, 99)).toEqual({ _tag: "Pending" })
    expect(Triage.settlePending(view(), p, false, 100)).toMatchObject({
      _tag: "Settled",
      approved: false,
      by: "expiry",
      then: { _tag: "Result", execution: { errorKind: "Denied" } }
    })
    const approved = view({ decisions: new Map([["c1", Approval.approve(p, { by: "alice", reason: "ok" })]]) })
    const before = snapshot(approved)
    expect(Triage.settlePending(approved, p, false, 0)).toMatchObject({
      _tag: "Settled",
      approved: true,
      by: "alice",
      then: { _tag: "Execute", args: { version: "1" }, approval: { decidedBy: "alice", reason: "ok" } }
    })
    expect(snapshot(approved)).toBe(before)
    const denied = view({ decisions: new Map([["c1", Approval.deny(p, "not today")]]) })
    expect(Triage.settlePending(denied, p, false, 0)).toMatchObject({ then: { _tag: "Result", execution: { content: expect.stringContaining("not today") } } })
    // A provider's request gets a decision, never an execution here.
    expect(Triage.settlePending(approved, p, true, 0)).toMatchObject({ then: { _tag: "Decision", approved: true } })
  })

  it("an in-flight call runs again as approved", () => {
    const inFlight: RunState.InFlightCall = {
      toolCallId: "c1",
      toolName: "deploy",
      arguments: { version: "1" },
      argumentsDigest: "d",
      approval: { decidedBy: "alice" }
    } as RunState.InFlightCall
    expect(Triage.rerun(inFlight)).toEqual({ _tag: "Execute", args: { version: "1" }, approval: { decidedBy: "alice" } })
  })
})

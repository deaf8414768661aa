/** Hosted-agent parts: calls the provider runs itself, its approval requests, metadata and raw parts. */
import { AgentBackend, Approval, LanguageModel, Message, RunStore, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { agent, collect, harness, runCollect } from "./fixtures.js"

const S = ScriptedModel
const L = LanguageModel

describe("remote tool calls", () => {
  it.effect("are recorded in order, shown as events, and never run locally", () =>
    Effect.gen(function* () {
      const h = harness([
        S.parts([
          L.textDelta("Let me run that. "),
          L.remoteToolCall({ id: "r1", name: "code_exec_python", arguments: '{"code":"print(1)"}' }),
          L.remoteToolResult({ toolCallId: "r1", toolName: "code_exec_python", content: "1", isError: false }),
          L.textDelta("It printed 1."),
          L.finish("stop")
        ])
      ])
      const { events, outcome } = yield* runCollect("run code").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Let me run that. It printed 1." })
      expect(events.filter((e) => e._tag === "ToolCalled" || e._tag === "ToolResult")).toMatchObject([
        { _tag: "ToolCalled", toolName: "code_exec_python", arguments: { code: "print(1)" }, remote: true },
        { _tag: "ToolResult", toolName: "code_exec_python", content: "1", remote: true }
      ])
      expect(h.handlers.calls).toEqual([])
    }))

  it.effect("the history keeps the remote call, its result and the final text, in order", () => {
    const h = harness([
      S.parts([
        L.textDelta("Checking. "),
        L.remoteToolCall({ id: "r1", name: "web_search", arguments: "{}" }),
        L.remoteToolResult({ toolCallId: "r1", toolName: "web_search", content: "found", isError: false }),
        L.textDelta("Done."),
        L.metadata({ provider: { conversationId: "c-42" } })
      ]),
      S.text("second answer")
    ])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      yield* backend.run({ input: "first", runId: "hist" })
      const state = Option.getOrThrow(yield* backend.getRun("hist"))
      expect(state.messages.map((m) => m._tag)).toEqual(["UserMessage", "AssistantMessage", "ToolMessage", "AssistantMessage"])
      expect(state.messages[1]).toMatchObject({ text: "Checking. ", toolCalls: [{ id: "r1", remote: true }] })
      expect(state.messages[3]).toMatchObject({ text: "Done.", toolCalls: [], metadata: { provider: { conversationId: "c-42" } } })
      // A follow-up run carries the metadata back to the provider.
      yield* backend.run({ input: [...state.messages, Message.user("and then?")] })
      expect(h.model.requests[1]!.messages[3]).toMatchObject({ metadata: { provider: { conversationId: "c-42" } } })
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("raw parts become Raw events", () =>
    Effect.gen(function* () {
      const h = harness([S.parts([L.raw("toolhouse", { type: "ping" }), L.textDelta("hi")])])
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(events.find((e) => e._tag === "Raw")).toMatchObject({ source: "toolhouse", data: { type: "ping" } })
    }))
})

describe("provider approval requests", () => {
  const request = (id: string, args = "{}") => S.parts([L.approvalRequest({ id, name: "delete_memory", arguments: args }), L.finish("tool_calls")])

  it.effect("an approval is answered with an ApprovalMessage and the provider reports the result next step", () =>
    Effect.gen(function* () {
      const h = harness(
        [
          request("p1", '{"block":"notes"}'),
          S.parts([L.remoteToolResult({ toolCallId: "p1", toolName: "delete_memory", content: "deleted", isError: false }), L.textDelta("Deleted.")])
        ],
        { approvals: Approval.layerPolicy(() => Approval.Verdict.approved({ by: "policy" })) }
      )
      const { events, outcome } = yield* runCollect("clean up").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Deleted." })
      expect(h.model.requests[1]!.messages.at(-1)).toEqual({ _tag: "ApprovalMessage", toolCallId: "p1", toolName: "delete_memory", approved: true })
      expect(events.find((e) => e._tag === "ApprovalDecided")).toMatchObject({ approved: true, decidedBy: "policy", arguments: { block: "notes" } })
      expect(h.handlers.calls).toEqual([])
    }))

  it.effect("a denial carries the reason to the provider", () =>
    Effect.gen(function* () {
      const h = harness([request("p1"), S.text("ok, kept it")], { approvals: Approval.layerDenyAll("keep memories") })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.model.requests[1]!.messages.at(-1)).toEqual({
        _tag: "ApprovalMessage",
        toolCallId: "p1",
        toolName: "delete_memory",
        approved: false,
        reason: "keep memories"
      })
    }))

  it.effect("suspend, persist, resume: the decision reaches the provider once", () => {
    const h = harness([request("p1"), S.text("done")], { approvals: Approval.layerSuspend() })
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const first = yield* collect(backend.stream({ input: "x", runId: "rp" }))
      expect(first.outcome._tag).toBe("Suspended")
      const pending = (first.outcome as { pending: ReadonlyArray<Approval.PendingApproval> }).pending
      expect(pending).toMatchObject([{ toolCallId: "p1", toolName: "delete_memory" }])
      expect(h.model.requests).toHaveLength(1)
      const second = yield* backend.resume("rp", [Approval.deny(pending[0]!, "not now", { by: "alice" })])
      expect(second._tag).toBe("Completed")
      const approvals = h.model.requests[1]!.messages.filter((m) => m._tag === "ApprovalMessage")
      expect(approvals).toEqual([{ _tag: "ApprovalMessage", toolCallId: "p1", toolName: "delete_memory", approved: false, reason: "not now" }])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("tool rules apply to provider requests too: a forbidden call is denied without asking anyone", () =>
    Effect.gen(function* () {
      let asked = 0
      const h = harness([request("p1"), S.toolCall("echo", { text: "first" }), S.text("ok")], {
        agent: agent({ rules: [ToolRule.init("echo")] }),
        approvals: Approval.layerPolicy(() => (asked++, Approval.Verdict.approved()))
      })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(asked).toBe(0)
      const answer = h.model.requests[1]!.messages.at(-1) as Message.ApprovalMessage
      expect(answer).toMatchObject({ _tag: "ApprovalMessage", approved: false })
      expect(answer.reason).toContain("[ToolConstraintError] Cannot call delete_memory, valid tools include: [echo]")
    }))
})

describe("backend capabilities", () => {
  const serverOnly = { clientTools: false, approvals: false, toolRules: false, streaming: true }

  it.effect("an agent needing what the backend lacks fails when the layer is built, before any request", () =>
    Effect.gen(function* () {
      const h = harness([S.text("never asked")])
      const layer = AgentBackend.layerWith(agent(), { name: "server-only", capabilities: serverOnly }).pipe(
        Layer.provide(Layer.mergeAll(h.model.layerUnchecked, h.handlers.layer, Approval.layerAutoApprove, RunStore.layerMemory))
      )
      const error = yield* Effect.flip(Effect.provide(AgentBackend.AgentBackend, layer))
      expect(error).toMatchObject({ _tag: "UnsupportedCapability", backend: "server-only", capability: "clientTools" })
      expect(error.message).toContain("does not support clientTools: the agent's toolkit has echo, add")
      expect(h.model.requests).toHaveLength(0)
    }))

  it("requiredCapabilities explains each need", () => {
    const needs = AgentBackend.requiredCapabilities(agent({ rules: [ToolRule.terminal("finish"), ToolRule.requiresApproval("echo")] }))
    expect(needs.map((n) => n.capability)).toEqual(["clientTools", "approvals", "toolRules"])
    expect(needs[1]!.reason).toBe("deploy, echo need approval")
  })

  it.effect("requireCapabilities checks the backend in context", () =>
    Effect.gen(function* () {
      const h = harness([])
      const backend = yield* AgentBackend.requireCapabilities("streaming", "approvals").pipe(Effect.provide(h.layer))
      expect(backend.capabilities.approvals).toBe(true)
    }))
})

describe("whole steps and streamed steps", () => {
  it.effect("run() and stream() take pushStep when the model has it, else streamStep, and all reach the same outcome", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const script = () => [S.toolCall("echo", { text: "x" }), S.text(["a", "b"])]
      const counting = (model: ScriptedModel.ScriptedModel, push: boolean): LanguageModel.Service => ({
        streamStep: (request) => (calls.push("stream"), model.service.streamStep(request)),
        ...(push ? { pushStep: (request, emit) => (calls.push("push"), model.service.pushStep!(request, emit)) } : {})
      })
      const backendOver = (model: ScriptedModel.ScriptedModel, push: boolean) => {
        const h = harness([])
        return AgentBackend.layerLocal(agent()).pipe(
          Layer.provide(Layer.mergeAll(Layer.succeed(LanguageModel.LanguageModel, counting(model, push)), h.handlers.layer, Approval.layerAutoApprove, RunStore.layerMemory))
        )
      }
      const strip = (o: { _tag: string; text?: string; steps?: number }) => ({ tag: o._tag, text: o.text, steps: o.steps })
      const ran = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(backendOver(S.make(script()), true)))
      expect(calls).toEqual(["push", "push"])
      for (const push of [true, false]) {
        calls.length = 0
        const streamed = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => collect(b.stream({ input: "x" }))).pipe(Effect.provide(backendOver(S.make(script()), push)))
        expect(calls).toEqual(push ? ["push", "push"] : ["stream", "stream"])
        expect(streamed.events.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta)).toEqual(["a", "b"])
        expect(strip(streamed.outcome as never)).toEqual(strip(ran as never))
      }
      calls.length = 0
      const ranStreamOnly = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(backendOver(S.make(script()), false)))
      expect(calls).toEqual(["stream", "stream"])
      expect(strip(ranStreamOnly as never)).toEqual(strip(ran as never))
      expect(ran).toMatchObject({ _tag: "Completed", text: "ab", steps: 2 })
    }))
})

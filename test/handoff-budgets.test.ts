/**
 * Handoffs on the conversations real apps have (issue 25): per-run budgets survive any number of handoffs
 * (max-count rules, steps, maxHandoffs), the loop's re-prompts never reach a target as the customer's request,
 * and the target's instructions replace the leading system message whatever it was (a caller-supplied one, or a
 * stored run's older prompt, across a restart).
 */
import { Agent, AgentBackend, AgentEvent, Approval, Handoff, type LanguageModel, Message, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const Lookup = Tool.make("lookup_order", { description: "Look an order up.", parameters: { orderId: Schema.String }, success: Schema.String })
const refundTool = (gated: boolean) =>
  Tool.make("refund", { description: "Refund an order.", parameters: { orderId: Schema.String }, success: Schema.String, requiresApproval: gated })

interface Versions {
  readonly triage?: string
  readonly billing?: string
  readonly triageOptions?: {
    readonly maxSteps?: number
    readonly maxHandoffs?: number
    readonly toolChoice?: "required"
    readonly rules?: ReadonlyArray<ToolRule.ToolRule>
  }
  readonly billingRules?: ReadonlyArray<ToolRule.ToolRule>
  readonly filter?: Handoff.InputFilter
  readonly gated?: boolean
}

/** Triage and billing, handing the conversation back and forth; `ran` records each handler run. */
const agents = (v: Versions = {}) => {
  const billingTools = Toolkit.make(refundTool(v.gated === true))
  const triageTools = Toolkit.make(Lookup)
  const billing = Agent.make({
    name: "billing",
    instructions: v.billing ?? "You handle refunds.",
    toolkit: billingTools,
    rules: v.billingRules ?? [],
    handoffs: [Handoff.make((): Handoff.Target => triage)]
  })
  const triage = Agent.make({
    name: "triage",
    instructions: v.triage ?? "You route customer requests.",
    toolkit: triageTools,
    ...v.triageOptions,
    handoffs: [Handoff.make(billing, v.filter === undefined ? {} : { inputFilter: v.filter })]
  })
  const layer = (ran: Array<string>, model: Layer.Layer<LanguageModel.LanguageModel>, store: Layer.Layer<RunStore.RunStore> = RunStore.layerMemory) =>
    AgentBackend.layerLocal(triage).pipe(
      Layer.provide(
        Layer.mergeAll(
          model,
          store,
          Approval.layerSuspend(),
          triageTools.toLayer({ lookup_order: ({ orderId }) => Effect.sync(() => (ran.push(`lookup:${orderId}`), `order ${orderId}: paid`)) }),
          billingTools.toLayer({ refund: ({ orderId }) => Effect.sync(() => (ran.push(`refund:${orderId}`), `refunded ${orderId}`)) })
        )
      )
    )
  return { triage, billing, layer }
}

const speakers = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.flatMap((e) => (e._tag === "StepStarted" ? [e.agent] : []))
const systemMessages = (messages: ReadonlyArray<Message.Message>) => messages.filter((m) => m._tag === "SystemMessage").map((m) => (m as Message.SystemMessage).content)

/** Triage hands off, billing refunds and hands back, triage hands off again. */
const refundThenBackAndForth = [
  S.toolCall("transfer_to_billing", {}, { id: "h1" }),
  S.toolCall("refund", { orderId: "42" }, { id: "r1" }),
  S.toolCall("transfer_to_triage", {}, { id: "h2" }),
  S.toolCall("transfer_to_billing", {}, { id: "h3" })
]

describe("handoffs keep the run's budgets", () => {
  it.effect("triage -> billing -> triage -> billing with maxCountPerStep(refund, 1) on billing: refund runs once in the run", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const { layer } = agents({ billingRules: [ToolRule.maxCountPerStep("refund", 1)] })
      const model = S.make([
        ...refundThenBackAndForth,
        S.respond((request) => {
          // Billing has the conversation again: refund is spent for the run, so it is not offered.
          expect(request.tools).toEqual(["transfer_to_triage"])
          return S.toolCall("refund", { orderId: "42" }, { id: "r2" })
        }),
        S.respond((request) => {
          expect(request.messages.at(-1)).toMatchObject({ _tag: "ToolMessage", toolCallId: "r2", isError: true, content: expect.stringContaining("Cannot call refund") })
          return S.text("Already refunded.")
        })
      ])
      const events: Array<AgentEvent.AgentEvent> = []
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42, twice" }, { onEvent: (e) => void events.push(e) })).pipe(
        Effect.provide(layer(ran, model.layer))
      )
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Already refunded.", steps: 6 })
      expect(ran).toEqual(["refund:42"])
      expect(speakers(events)).toEqual(["triage", "billing", "billing", "triage", "billing", "billing"])
    }))

  it.effect("the budget also holds across a suspension and a resume after the ping-pong (the spent calls are stored with the run)", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const { layer } = agents({ billingRules: [ToolRule.maxCountPerStep("refund", 1), ToolRule.requiresApproval("transfer_to_triage")] })
      // (suspended for the hand-back's approval after h2, then resumed)
      const model = S.make([
        ...refundThenBackAndForth,
        S.respond((request) => {
          expect(request.tools).toEqual(["transfer_to_triage"])
          return S.text("Refund already done.")
        })
      ])
      yield* Effect.gen(function* () {
        const b = yield* AgentBackend.AgentBackend
        const first = yield* b.run({ input: "refund 42" })
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        const stored = Option.getOrThrow(yield* b.getRun(first.runId))
        expect(stored.failedToolCalls).toEqual(["transfer_to_billing"])
        expect(stored.toolHistory).toEqual(["refund"])
        const second = yield* b.resume(first.runId, [Approval.approve(first.pending[0]!)])
        expect(second).toMatchObject({ _tag: "Completed", text: "Refund already done." })
      }).pipe(Effect.provide(layer(ran, model.layer)))
      expect(ran).toEqual(["refund:42"])
    }))

  it.effect("steps and maxHandoffs count the whole run, however often the agents hand back and forth", () =>
    Effect.gen(function* () {
      const pingPong = (n: number) => Array.from({ length: n }, (_, i) => S.toolCall(i % 2 === 0 ? "transfer_to_billing" : "transfer_to_triage", {}, { id: `h${i}` }))
      const steps = agents({ triageOptions: { maxSteps: 5 } })
      const bySteps = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "go" })).pipe(Effect.provide(steps.layer([], S.make(pingPong(5)).layer)))
      expect(bySteps).toMatchObject({ _tag: "Stopped", reason: "max_steps", steps: 5 })
      const handoffs = agents({ triageOptions: { maxHandoffs: 3 } })
      const byHandoffs = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "go" })).pipe(
        Effect.provide(handoffs.layer([], S.make(pingPong(4)).layer))
      )
      expect(byHandoffs).toMatchObject({ _tag: "Stopped", reason: "max_handoffs", steps: 4, detail: expect.stringContaining("limit of 3 handoff(s); billing -> triage") })
    }))
})

describe("the loop's re-prompts never reach the target as the customer's request", () => {
  it.effect("a tool-choice re-prompt before the handoff: lastUserMessage gives billing the customer's request", () =>
    Effect.gen(function* () {
      const { layer } = agents({ triageOptions: { toolChoice: "required" }, filter: Handoff.lastUserMessage })
      const model = S.make([
        S.text("Let me think about it."),
        S.respond((request) => {
          expect(request.messages.at(-1)).toMatchObject({ _tag: "UserMessage", reprompt: "tool_choice", content: expect.stringContaining("ToolChoiceViolated") })
          return S.toolCall("transfer_to_billing", {}, { id: "h1" })
        }),
        S.respond((request) => {
          expect(request.messages).toEqual([Message.system("You handle refunds."), Message.user("I want my $30 back for order 42")])
          return S.text("Billing here.")
        })
      ])
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "I want my $30 back for order 42" })).pipe(Effect.provide(layer([], model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Billing here." })
      yield* model.assertComplete
    }))

  it.effect("a required-tools re-prompt before the handoff: removeToolCalls drops it with the calls", () =>
    Effect.gen(function* () {
      const { layer } = agents({ triageOptions: { rules: [ToolRule.requiredBeforeExit("lookup_order")] }, filter: Handoff.removeToolCalls })
      const model = S.make([
        S.text("Done, bye."),
        S.respond((request) => {
          expect(request.messages.at(-1)).toMatchObject({ _tag: "UserMessage", reprompt: "required_tools" })
          return S.toolCall("transfer_to_billing", {}, { id: "h1" })
        }),
        S.respond((request) => {
          expect(request.messages).toEqual([Message.system("You handle refunds."), Message.user("refund 42"), Message.assistant("Done, bye.")])
          return S.text("Billing here.")
        })
      ])
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42" })).pipe(Effect.provide(layer([], model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Billing here." })
      yield* model.assertComplete
    }))
})

describe("the target's instructions replace the leading system message, whatever it was", () => {
  it.effect("a caller-supplied system message: billing speaks under its own instructions, and triage under its own when billing hands back", () =>
    Effect.gen(function* () {
      const { layer } = agents()
      const model = S.make([
        S.respond((request) => {
          expect(systemMessages(request.messages)).toEqual(["You are the app's generic assistant."])
          return S.toolCall("transfer_to_billing", {}, { id: "h1" })
        }),
        S.respond((request) => {
          expect(systemMessages(request.messages)).toEqual(["You handle refunds."])
          expect(request.messages[0]).toEqual(Message.system("You handle refunds."))
          return S.toolCall("transfer_to_triage", {}, { id: "h2" })
        }),
        S.respond((request) => {
          expect(systemMessages(request.messages)).toEqual(["You route customer requests."])
          return S.text("Back at triage.")
        })
      ])
      const input = [Message.system("You are the app's generic assistant."), Message.user("refund 42")]
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input })).pipe(Effect.provide(layer([], model.layer)))
      expect(outcome).toMatchObject({ _tag: "Completed", text: "Back at triage." })
      yield* model.assertComplete
    }))

  it.effect("a run stored under older prompts (file store), resumed after a prompt change: the hand back gives triage its new instructions", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "handoff-prompts-"))
      try {
        const store = RunStore.layerFileSystem(dir).pipe(Layer.provide(NodeServices.layer))
        const ran: Array<string> = []
        // Version 1 of the prompts: triage hands off, billing's refund waits for approval.
        const v1 = agents({ triage: "Triage v1.", billing: "Billing v1.", gated: true })
        const first = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "refund 42", runId: "run_v1" })).pipe(
          Effect.provide(v1.layer(ran, S.make([S.toolCall("transfer_to_billing", {}, { id: "h1" }), S.toolCall("refund", { orderId: "42" }, { id: "r1" })]).layer, store))
        )
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        // The prompts changed; a fresh runtime resumes the stored run (whose history leads with "Billing v1.").
        const v2 = agents({ triage: "Triage v2.", billing: "Billing v2.", gated: true })
        const model = S.make([
          S.toolCall("transfer_to_triage", {}, { id: "h2" }),
          S.respond((request) => {
            expect(systemMessages(request.messages)).toEqual(["Triage v2."])
            return S.toolCall("transfer_to_billing", {}, { id: "h3" })
          }),
          S.respond((request) => {
            expect(systemMessages(request.messages)).toEqual(["Billing v2."])
            return S.text("All settled.")
          })
        ])
        const second = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.resume("run_v1", [Approval.approve(first.pending[0]!)])).pipe(
          Effect.provide(v2.layer(ran, model.layer, store))
        )
        expect(second).toMatchObject({ _tag: "Completed", text: "All settled." })
        expect(ran).toEqual(["refund:42"])
        yield* model.assertComplete
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))
})

/**
 * Handoffs: a triage agent looks the order up and hands the conversation to a billing agent (without its
 * tool calls: `Handoff.removeToolCalls`). Billing's `refund` needs approval, so the run suspends while
 * billing is speaking; the resume goes on with billing, which refunds and hands back to triage. Every step's
 * event names the agent speaking. Offline (a scripted model); run with `tsx examples/handoff-triage.ts`;
 * tested by test/composition-examples.test.ts (and reused by test/handoff.test.ts).
 */
import { Agent, AgentBackend, AgentEvent, Approval, Handoff, type LanguageModel, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { Effect, Layer, Schema } from "effect"

export const LookupOrder = Tool.make("lookup_order", {
  description: "Look an order up by id.",
  parameters: { orderId: Schema.String },
  success: Schema.String
})
export const Refund = Tool.make("refund", {
  description: "Refund an order (needs approval).",
  parameters: { orderId: Schema.String, amount: Schema.Number },
  success: Schema.String,
  requiresApproval: true
})

export const triageTools = Toolkit.make(LookupOrder)
export const billingTools = Toolkit.make(Refund)

// Billing hands back to triage, defined below: a function target (typed `Handoff.Target`, so the two definitions
// do not depend on each other's types) is resolved, and its handlers checked, when the backend is built.
export const billing = Agent.make({
  name: "billing",
  instructions: "You handle refunds. Hand back to triage when done.",
  toolkit: billingTools,
  handoffs: [Handoff.make((): Handoff.Target => triage, { description: "Anything that is not billing." })]
})

export const triage = Agent.make({
  name: "triage",
  instructions: "You route customer requests.",
  toolkit: triageTools,
  handoffs: [Handoff.make(billing, { description: "Refunds and invoices.", inputFilter: Handoff.removeToolCalls })]
})

/** Triage's local backend: its layer needs both agents' handlers. Handlers append what ran to `ran`. */
export const backend = (options: {
  readonly ran: Array<string>
  readonly model: Layer.Layer<LanguageModel.LanguageModel>
  readonly store: Layer.Layer<RunStore.RunStore>
}) =>
  AgentBackend.layerLocal(triage).pipe(
    Layer.provide(
      Layer.mergeAll(
        options.model,
        options.store,
        Approval.layerSuspend,
        triageTools.toLayer({ lookup_order: ({ orderId }) => Effect.sync(() => (options.ran.push(`lookup:${orderId}`), `order ${orderId}: $30, paid`)) }),
        billingTools.toLayer({
          refund: ({ amount, orderId }) => Effect.sync(() => (options.ran.push(`refund:${orderId}:${amount}`), `refunded $${amount} on ${orderId}`))
        })
      )
    )
  )

/** The script: triage looks up and hands off; billing refunds (approval), then hands back; triage closes. */
export const script = {
  untilApproval: [
    S.toolCall("lookup_order", { orderId: "42" }, { id: "call_lookup" }),
    S.toolCall("transfer_to_billing", {}, { id: "call_to_billing" }),
    S.toolCall("refund", { orderId: "42", amount: 30 }, { id: "call_refund" })
  ],
  afterApproval: [S.toolCall("transfer_to_triage", {}, { id: "call_to_triage" }), S.text("Your refund of $30 is on its way. Anything else?")]
}

/** Runs the conversation, approving the refund; returns the outcome and the event lines. */
export const main = (ran: Array<string> = []) => {
  const model = S.make([...script.untilApproval, ...script.afterApproval])
  const lines: Array<string> = []
  const onEvent = (event: AgentEvent.AgentEvent) => void lines.push(AgentEvent.format(event))
  const program = Effect.gen(function* () {
    const backend = yield* AgentBackend.AgentBackend
    const first = yield* backend.run({ input: "I want my $30 back for order 42" }, { onEvent })
    if (first._tag !== "Suspended") return { outcome: first, lines }
    const outcome = yield* backend.resume(first.runId, first.pending.map((p) => Approval.approve(p, { by: "support-lead" })), { onEvent })
    return { outcome, lines }
  })
  return program.pipe(Effect.provide(backend({ ran, model: model.layer, store: RunStore.layerMemory })))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main()).then(({ lines, outcome }) => {
    for (const line of lines) console.log(line)
    console.log(outcome)
  })
}

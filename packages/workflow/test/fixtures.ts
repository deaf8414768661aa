/** A small durable agent: the model calls `deploy` (which needs approval), then answers. */
import { Agent, Approval, Handoff, LanguageModel, Message, RunStore, Tool, Toolkit } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { Effect, Layer, Schema, Stream } from "effect"

export const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
export const toolkit = Toolkit.make(Deploy)
export const agent = Agent.make({ name: "durable-deployer", toolkit })

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })

/** A model whose step is whatever `partsFor` answers, pushed at once (`pushStep`) or as a `Stream`. */
const stepModel = (partsFor: (request: LanguageModel.ModelRequest) => Effect.Effect<ReadonlyArray<LanguageModel.ResponsePart>>) =>
  Layer.succeed(LanguageModel.LanguageModel, {
    pushStep: (request, emit) => Effect.map(partsFor(request), emit),
    streamStep: (request) => Stream.unwrap(Effect.map(partsFor(request), Stream.fromIterable))
  })

/**
 * A stateless model (the turn is read from the conversation, so any process can play any turn) that
 * reports every real call to `onCall`: replays of stored steps do not call it.
 */
export const model = (onCall: (turn: number) => void) => {
  const partsFor = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      onCall(turn)
      if (turn === 1) return [LanguageModel.toolCall({ id: "call-deploy", name: "deploy", arguments: '{"version":"7.2"}' }), LanguageModel.finish("tool_calls", usage)]
      const result = [...request.messages].reverse().find((m) => m._tag === "ToolMessage")
      return [LanguageModel.textDelta(`Done: ${result?._tag === "ToolMessage" ? result.content : "?"}`), LanguageModel.finish("stop", usage)]
    })
  return stepModel(partsFor)
}

export const handlers = (onRun: (key: string, version: string) => Effect.Effect<void>) =>
  toolkit.toLayer({ deploy: ({ version }, ctx) => Effect.as(onRun(ctx.idempotencyKey, version), `deployed ${version}`) })

/**
 * A provider that numbers its calls per response, so `call_0` comes back on every step: step 1 asks to
 * deploy 7.1, step 2 to deploy 7.2 (both gated by approval), step 3 answers with every result it saw.
 */
export const repeatingIdsModel = (onCall: (turn: number) => void) => {
  const partsFor = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      onCall(turn)
      if (turn <= 2) return [LanguageModel.toolCall({ id: "call_0", name: "deploy", arguments: `{"version":"7.${turn}"}` }), LanguageModel.finish("tool_calls", usage)]
      const results = request.messages.flatMap((m) => (m._tag === "ToolMessage" ? [m.content] : []))
      return [LanguageModel.textDelta(`Done: ${results.join(", ")}`), LanguageModel.finish("stop", usage)]
    })
  return stepModel(partsFor)
}

/** The agent that talks to `repeatingIdsModel` (its own workflow name, so its runs never mix with `agent`'s). */
export const repeatingAgent = Agent.make({ name: "durable-repeater", toolkit })

// ---------------------------------------------------------------------------------------------------------
// A parent whose one tool is a sub-agent: `durable-research` calls `release` (the `durable-release` agent),
// which runs `check` (no approval) in its step 1 and `deploy` (needs approval) in its step 2.

export const Check = Tool.make("check", { description: "Check a version.", parameters: { version: Schema.String }, success: Schema.String })
export const releaseToolkit = Toolkit.make(Check, Deploy)
export const releaseAgent = Agent.make({ name: "durable-release", instructions: "You release versions.", toolkit: releaseToolkit })
export const releaseTool = Agent.asTool(releaseAgent, { name: "release", description: "Releases a version." })
export const researchAgent = Agent.make({ name: "durable-research", instructions: "You delegate releases.", toolkit: releaseTool.toolkit })

/** How `nestedModel` plays: `repeating`, a provider that numbers calls per response (every id is `call_0`) and a parent that calls `release` in steps 1 and 2. */
export interface NestedOptions {
  readonly repeating?: boolean
}

/**
 * Plays both agents, statelessly (any process can play any turn): the parent when `release` is offered, the
 * sub-agent otherwise. Reports every real call to `onCall` as `<agent> <turn>`.
 */
export const nestedModel = (onCall: (call: string) => void, options: NestedOptions = {}) => {
  const releases = options.repeating === true ? 2 : 1
  const partsFor = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      const outer = request.tools.some((t) => t.name === "research")
      const parent = request.tools.some((t) => t.name === "release")
      onCall(`${outer ? "outer" : parent ? "parent" : "sub"} ${turn}`)
      const last = [...request.messages].reverse().find((m) => m._tag === "ToolMessage")
      const result = last?._tag === "ToolMessage" ? last.content : "?"
      const call = (id: string, name: string, args: object) => [
        LanguageModel.toolCall({ id: options.repeating === true ? "call_0" : id, name, arguments: JSON.stringify(args) }),
        LanguageModel.finish("tool_calls", usage)
      ]
      if (outer) return turn === 1 ? call("call-research", "research", { input: "research 7.2" }) : [LanguageModel.textDelta(`Outer: ${result}`), LanguageModel.finish("stop", usage)]
      if (parent) return turn <= releases ? call("call-release", "release", { input: "release 7.2" }) : [LanguageModel.textDelta(`Done: ${result}`), LanguageModel.finish("stop", usage)]
      if (turn === 1) return call("call-check", "check", { version: "7.2" })
      if (turn === 2) return call("call-deploy", "deploy", { version: "7.2" })
      return [LanguageModel.textDelta(`Released: ${result}`), LanguageModel.finish("stop", usage)]
    })
  return stepModel(partsFor)
}

/**
 * The parent's durable layer (before an engine): the sub-agent's tool layer gets the same model and its own
 * handlers, which report each run (tool name, idempotency key) to `onRun`. Approvals are the engine's (the sub-agent's
 * layer still needs an `Approvals` and a `RunStore` to build; under the engine neither is used).
 */
export const nestedLayer = (onCall: (call: string) => void, onRun: (tool: string, key: string) => Effect.Effect<void>, options: NestedOptions = {}) => {
  const { model, release } = nestedParts(onCall, onRun, options)
  return Durable.layer(researchAgent).pipe(Layer.provide(Layer.merge(model, release)))
}

const nestedParts = (onCall: (call: string) => void, onRun: (tool: string, key: string) => Effect.Effect<void>, options: NestedOptions = {}) => {
  const model = nestedModel(onCall, options)
  const handlers = releaseToolkit.toLayer({
    check: ({ version }, ctx) => Effect.as(onRun("check", ctx.idempotencyKey), `${version} checks out`),
    deploy: ({ version }, ctx) => Effect.as(onRun("deploy", ctx.idempotencyKey), `deployed ${version}`)
  })
  const unused = Layer.merge(Approval.layerSuspend(), RunStore.layerMemory)
  const release = releaseTool.layer.pipe(Layer.provide(Layer.mergeAll(model, handlers, unused)))
  return { model, release, unused }
}

/** Two levels: `durable-outer` calls `research` (the `durable-research` agent), which calls `release`. */
export const researchTool = Agent.asTool(researchAgent, { name: "research", description: "Researches and releases a version." })
export const outerAgent = Agent.make({ name: "durable-outer", toolkit: researchTool.toolkit })

export const twoLevelLayer = (onCall: (call: string) => void, onRun: (tool: string, key: string) => Effect.Effect<void>) => {
  const { model, release, unused } = nestedParts(onCall, onRun)
  const research = researchTool.layer.pipe(Layer.provide(Layer.mergeAll(model, release, unused)))
  return Durable.layer(outerAgent).pipe(Layer.provide(Layer.merge(model, research)))
}

// ---------------------------------------------------------------------------------------------------------
// Handoffs: `durable-triage` looks the order up (step 1), then hands off to `durable-billing` (step 2, a direct
// target, through `Handoff.removeToolCalls`), whose `refund` needs approval; billing then answers.

export const LookupOrder = Tool.make("lookup_order", { description: "Look an order up.", parameters: { orderId: Schema.String }, success: Schema.String })
export const Refund = Tool.make("refund", {
  description: "Refund an order.",
  parameters: { orderId: Schema.String, amount: Schema.Number },
  success: Schema.String,
  requiresApproval: true
})
export const triageToolkit = Toolkit.make(LookupOrder)
export const billingToolkit = Toolkit.make(Refund)
export const billingAgent = Agent.make({ name: "durable-billing", instructions: "You handle refunds.", toolkit: billingToolkit })
export const triageAgent = Agent.make({
  name: "durable-triage",
  instructions: "You route customer requests.",
  toolkit: triageToolkit,
  handoffs: [Handoff.make(billingAgent, { inputFilter: Handoff.removeToolCalls })]
})

/**
 * Plays both agents statelessly (any process can play any turn), telling them apart by the tools offered.
 * Reports every real call to `onCall` as `<agent>:<turn>:<first line of the system message>`.
 */
export const handoffModel = (onCall: (call: string) => void) => {
  const partsFor = (request: LanguageModel.ModelRequest) =>
    Effect.sync(() => {
      const billing = request.tools.some((t) => t.name === "refund")
      const turn = request.messages.filter((m) => m._tag === "AssistantMessage").length + 1
      const system = request.messages.find((m) => m._tag === "SystemMessage")
      onCall(`${billing ? "billing" : "triage"}:${turn}:${system?._tag === "SystemMessage" ? system.content.split("\n")[0]!.replaceAll(" ", "_") : "-"}`)
      const result = [...request.messages].reverse().find((m) => m._tag === "ToolMessage")
      const call = (id: string, name: string, args: object) => [LanguageModel.toolCall({ id, name, arguments: JSON.stringify(args) }), LanguageModel.finish("tool_calls", usage)]
      if (!billing) return result === undefined ? call("call-lookup", "lookup_order", { orderId: "42" }) : call("call-transfer", "transfer_to_durable-billing", {})
      // Billing sees no tool calls from before the handoff (the filter dropped them).
      if (result === undefined) return call("call-refund", "refund", { orderId: "42", amount: 30 })
      return [LanguageModel.textDelta(`Billing: ${result.content}`), LanguageModel.finish("stop", usage)]
    })
  return stepModel(partsFor)
}

/** Triage's durable layer (before an engine): the model and both agents' handlers, which report each run to `onRun`. */
export const handoffLayer = (onCall: (call: string) => void, onRun: (tool: string, key: string) => Effect.Effect<void>) =>
  Durable.layer(triageAgent).pipe(
    Layer.provide(
      Layer.mergeAll(
        handoffModel(onCall),
        triageToolkit.toLayer({ lookup_order: ({ orderId }, ctx) => Effect.as(onRun("lookup_order", ctx.idempotencyKey), `order ${orderId}: $30, paid`) }),
        billingToolkit.toLayer({ refund: ({ amount, orderId }, ctx) => Effect.as(onRun("refund", ctx.idempotencyKey), `refunded $${amount} on ${orderId}`) })
      )
    )
  )

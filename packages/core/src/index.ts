/**
 * @agentloop/core: the agent loop as Effect services.
 *
 * @example
 * ```ts
 * import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
 * import { ScriptedModel } from "@agentloop/testing"
 * import { Effect, Layer, Schema } from "effect"
 *
 * const Deploy = Tool.make("deploy", {
 *   description: "Deploy a version to production.",
 *   parameters: { version: Schema.String },
 *   success: Schema.String,
 *   requiresApproval: true
 * })
 * const toolkit = Toolkit.make(Deploy)
 * const agent = Agent.make({ name: "release-bot", toolkit, rules: [ToolRule.terminal("deploy")] })
 *
 * const program = Effect.gen(function* () {
 *   const backend = yield* AgentBackend.AgentBackend
 *   const outcome = yield* backend.run({ input: "Ship 4.2.0" })
 *   if (outcome._tag !== "Suspended") return outcome
 *   // a human approves the gated call; the run resumes where it stopped
 *   return yield* backend.resume(outcome.runId, outcome.pending.map((p) => Approval.approve(p, { by: "me" })))
 * })
 *
 * const model = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "4.2.0" })])
 * const layer = AgentBackend.layerLocal(agent).pipe(
 *   Layer.provide(Layer.mergeAll(
 *     model.layer,
 *     Approval.layerSuspend,
 *     RunStore.layerMemory,
 *     toolkit.toLayer({ deploy: ({ version }) => Effect.succeed(`deployed ${version}`) })
 *   ))
 * )
 * Effect.runPromise(program.pipe(Effect.provide(layer)))
 * ```
 *
 * @since 0.1.0
 * @packageDocumentation
 */
// First: a clear error when the installed effect is not major 4 (see internal/effectMajor.ts).
import "./internal/effectMajor.js"
export * as Agent from "./Agent.js"
export * as AgentBackend from "./AgentBackend.js"
export * as AgentEvent from "./AgentEvent.js"
export * as Approval from "./Approval.js"
export * as ContextPolicy from "./ContextPolicy.js"
export * as DynamicTool from "./DynamicTool.js"
export * as Handoff from "./Handoff.js"
export * as LanguageModel from "./LanguageModel.js"
export * as Loop from "./Loop.js"
export * as Message from "./Message.js"
export * as Output from "./Output.js"
export * as Redaction from "./Redaction.js"
export * as RunClaim from "./RunClaim.js"
export * as RunEvents from "./RunEvents.js"
export * as RunIntegrity from "./RunIntegrity.js"
export * as RunState from "./RunState.js"
export * as RunStore from "./RunStore.js"
export * as StepRunner from "./StepRunner.js"
export * as SubAgent from "./SubAgent.js"
export * as Tool from "./Tool.js"
export * as Toolkit from "./Toolkit.js"
export * as ToolRule from "./ToolRule.js"
export * as ToolRuleAnalysis from "./ToolRuleAnalysis.js"
export * as ToolRuleSolver from "./ToolRuleSolver.js"
export * as Tracing from "./Tracing.js"

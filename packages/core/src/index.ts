/**
 * @agentloop/core: the agent loop as Effect services.
 *
 * @since 0.1.0
 */
export * as Agent from "./Agent.js"
export * as AgentBackend from "./AgentBackend.js"
export * as AgentEvent from "./AgentEvent.js"
export * as Approval from "./Approval.js"
export * as ContextPolicy from "./ContextPolicy.js"
export * as LanguageModel from "./LanguageModel.js"
export * as Loop from "./Loop.js"
export * as Message from "./Message.js"
export * as Output from "./Output.js"
export * as RunClaim from "./RunClaim.js"
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

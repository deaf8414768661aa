/**
 * Optional durability hooks. When a `StepRunner` is in context, the loop hands it each model step (by turn)
 * and each tool call (by step and tool-call id: providers may reuse ids across steps) to run; a durable engine persists their results and, when the run
 * replays after a crash or a suspension, returns the stored results instead of running them again
 * (`@agentloop/workflow` implements it on `@effect/workflow`).
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema } from "effect"
import type * as Approval from "./Approval.js"
import { FinishReason, type ModelError, type StepResponse } from "./LanguageModel.js"
import { Message, ToolCall, Usage } from "./Message.js"
import type { Execution } from "./Toolkit.js"

export interface Service {
  /** Runs (or replays) model step `turn` (1-based). */
  readonly modelStep: (turn: number, step: Effect.Effect<StepResponse, ModelError>) => Effect.Effect<StepResponse, ModelError>
  /** Runs (or replays) one tool call of model step `step` (the id alone may repeat across steps). */
  readonly toolCall: (step: number, toolCallId: string, call: Effect.Effect<Execution>) => Effect.Effect<Execution>
}

export class StepRunner extends Context.Service<StepRunner, Service>()("@agentloop/core/StepRunner") {}

/**
 * What a durable `StepRunner` puts in the context of each tool call it runs: the step runner and approvals a
 * sub-agent called there (`SubAgent.asTool`) must run its own run with, so that the sub-agent's model steps,
 * tool calls and approvals are durable inside the calling run (keyed under the calling step and call). A
 * sub-agent finding it keeps its run state in memory only: the engine's records are the durable state.
 */
export class SubRun extends Context.Service<
  SubRun,
  { readonly stepRunner: Service; readonly approvals: Approval.Service }
>()("@agentloop/core/StepRunner/SubRun") {}

/** A model step's response, as stored by durable engines. */
export const StepResponseSchema = Schema.Struct({
  text: Schema.String,
  transcript: Schema.Array(Message),
  finalText: Schema.String,
  toolCalls: Schema.Array(ToolCall),
  approvalRequests: Schema.Array(ToolCall),
  metadata: Schema.UndefinedOr(Schema.Record(Schema.String, Schema.Unknown)),
  finishReason: FinishReason,
  usage: Usage
})

/** A tool call's execution, as stored by durable engines. */
export const ExecutionSchema = Schema.Struct({
  content: Schema.String,
  output: Schema.String,
  isError: Schema.Boolean,
  errorKind: Schema.UndefinedOr(
    Schema.Literals(["UnknownTool", "InvalidArguments", "ToolFailed", "Timeout", "Defect", "InvalidResult", "RuleViolation", "Denied"])
  ),
  value: Schema.Unknown
})

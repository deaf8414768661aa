/**
 * What a model step answers, as data: the response parts a `LanguageModel` produces and the `StepResponse`
 * they fold into (see `LanguageModel`, which exports them, and `stepCollector`, which folds them).
 *
 * @internal
 */
import { type Effect, Schema } from "effect"
import { type Message, ToolCall, Usage } from "../Message.js"

export const FinishReason = Schema.Literals(["stop", "tool_calls", "length", "content_filter", "error", "other"])
export type FinishReason = typeof FinishReason.Type

export const TextDeltaPart = Schema.TaggedStruct("TextDelta", { delta: Schema.String })
/** A call of one of our tools: the loop runs it (with rules and approvals). */
export const ToolCallPart = Schema.TaggedStruct("ToolCall", { call: ToolCall })
/** A call the provider runs itself (a hosted agent's server-side tool); the loop records it. */
export const RemoteToolCallPart = Schema.TaggedStruct("RemoteToolCall", { call: ToolCall })
/** The result of a remote call. */
export const RemoteToolResultPart = Schema.TaggedStruct("RemoteToolResult", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  content: Schema.String,
  isError: Schema.Boolean
})
/** The provider asks to run one of its own tools: the loop checks the rules and asks `Approvals`. */
export const ApprovalRequestPart = Schema.TaggedStruct("ApprovalRequest", { call: ToolCall })
/** Provider state for the step's assistant message (how to continue the hosted conversation). */
export const MetadataPart = Schema.TaggedStruct("Metadata", {
  metadata: Schema.Record(Schema.String, Schema.Unknown)
})
/** Anything the provider sent that has no other part: kept, never dropped. */
export const RawPart = Schema.TaggedStruct("Raw", { source: Schema.String, data: Schema.Unknown })
export const FinishPart = Schema.TaggedStruct("Finish", { reason: FinishReason, usage: Usage })
export const ResponsePart = Schema.Union([
  TextDeltaPart,
  ToolCallPart,
  RemoteToolCallPart,
  RemoteToolResultPart,
  ApprovalRequestPart,
  MetadataPart,
  RawPart,
  FinishPart
])
export type ResponsePart = typeof ResponsePart.Type

/** A whole step, collected: what the loop needs once the stream has ended. */
export interface StepResponse {
  /** All the text of the step. */
  readonly text: string
  /** Remote calls and their results, in arrival order, as conversation messages. */
  readonly transcript: ReadonlyArray<Message>
  /** Text after the last remote call: the final assistant message's text. */
  readonly finalText: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly approvalRequests: ReadonlyArray<ToolCall>
  readonly metadata: Readonly<Record<string, unknown>> | undefined
  readonly finishReason: FinishReason
  readonly usage: Usage
}

export interface StepHandlers {
  /**
   * Asked between the chunks of a streamed step: an Effect to wait for first (the consumer of the run's
   * events is behind: backpressure), or undefined to go on at once.
   */
  readonly ready?: () => Effect.Effect<void> | undefined
  readonly onText?: (delta: string) => void
  readonly onRemoteCall?: (call: ToolCall) => void
  readonly onRemoteResult?: (result: typeof RemoteToolResultPart.Type) => void
  readonly onRaw?: (raw: typeof RawPart.Type) => void
}


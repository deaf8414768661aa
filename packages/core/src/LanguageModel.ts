/**
 * The `LanguageModel` service: one reasoning step. Given the conversation, the offered tools and a tool
 * choice, it streams text deltas, complete tool calls and a finish part with usage.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Schema, Stream } from "effect"
import { type Message, ToolCall, Usage } from "./Message.js"

/** `none`: offer no tool. `auto`: the model decides. `required`: some tool must be called. `{ function }`: that one. */
export const ToolChoice = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  Schema.Struct({ function: Schema.String })
)
export type ToolChoice = typeof ToolChoice.Type

/** What the model is told about a tool: its name, description and JSON Schema for the arguments. */
export interface ToolDefinition {
  readonly name: string
  readonly description: string
  readonly parameters: unknown
}

export interface ModelRequest {
  readonly messages: ReadonlyArray<Message>
  readonly tools: ReadonlyArray<ToolDefinition>
  readonly toolChoice: ToolChoice
  /** False when the loop can only process one tool call per step (ordering rules are active). */
  readonly parallelToolCalls: boolean
}

export const FinishReason = Schema.Literal("stop", "tool_calls", "length", "content_filter", "error", "other")
export type FinishReason = typeof FinishReason.Type

export const TextDeltaPart = Schema.TaggedStruct("TextDelta", { delta: Schema.String })
export const ToolCallPart = Schema.TaggedStruct("ToolCall", { call: ToolCall })
export const FinishPart = Schema.TaggedStruct("Finish", { reason: FinishReason, usage: Usage })
export const ResponsePart = Schema.Union(TextDeltaPart, ToolCallPart, FinishPart)
export type ResponsePart = typeof ResponsePart.Type

export const textDelta = (delta: string): ResponsePart => ({ _tag: "TextDelta", delta })
export const toolCall = (call: { id: string; name: string; arguments: string }): ResponsePart => ({
  _tag: "ToolCall",
  call: new ToolCall(call)
})
export const finish = (reason: FinishReason, usage: Usage = Usage.empty): ResponsePart => ({
  _tag: "Finish",
  reason,
  usage
})

/** The model could not produce a step. `retryable` tells callers whether trying again may help. */
export class ModelError extends Data.TaggedError("ModelError")<{
  readonly message: string
  readonly retryable: boolean
  readonly cause?: unknown
}> {}

export interface Service {
  readonly streamStep: (request: ModelRequest) => Stream.Stream<ResponsePart, ModelError>
}

export class LanguageModel extends Context.Tag("@agentloop/core/LanguageModel")<LanguageModel, Service>() {}

/** A whole step, collected: what the loop needs once the stream has ended. */
export interface StepResponse {
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: FinishReason
  readonly usage: Usage
}

/**
 * Runs one step and collects it, calling `onText` for each text delta as it arrives.
 * A stream that ends without a finish part is treated as `stop` (or `tool_calls` if calls arrived).
 */
export const collectStep = (
  model: Service,
  request: ModelRequest,
  onText?: (delta: string) => Effect.Effect<void>
): Effect.Effect<StepResponse, ModelError> => {
  let text = ""
  const toolCalls: Array<ToolCall> = []
  let finishReason: FinishReason | undefined
  let usage = Usage.empty
  return model.streamStep(request).pipe(
    Stream.runForEach((part): Effect.Effect<void> => {
      switch (part._tag) {
        case "TextDelta":
          text += part.delta
          return onText === undefined ? Effect.void : onText(part.delta)
        case "ToolCall":
          toolCalls.push(part.call)
          return Effect.void
        case "Finish":
          finishReason = part.reason
          usage = Usage.add(usage, part.usage)
          return Effect.void
      }
    }),
    Effect.map(() => ({
      text,
      toolCalls,
      finishReason: finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
      usage
    }))
  )
}

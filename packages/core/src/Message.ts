/**
 * Conversation messages and token usage, as Schemas so a run's history round-trips through JSON.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** A tool call as the model produced it. `arguments` is the raw JSON text, kept verbatim for fidelity. */
export class ToolCall extends Schema.Class<ToolCall>("ToolCall")({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
}) {}

export const SystemMessage = Schema.TaggedStruct("SystemMessage", {
  content: Schema.String
})
export type SystemMessage = typeof SystemMessage.Type

export const UserMessage = Schema.TaggedStruct("UserMessage", {
  content: Schema.String
})
export type UserMessage = typeof UserMessage.Type

export const AssistantMessage = Schema.TaggedStruct("AssistantMessage", {
  text: Schema.String,
  toolCalls: Schema.Array(ToolCall)
})
export type AssistantMessage = typeof AssistantMessage.Type

/** The result of one tool call, as the model will see it on the next step. */
export const ToolMessage = Schema.TaggedStruct("ToolMessage", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  content: Schema.String,
  isError: Schema.Boolean
})
export type ToolMessage = typeof ToolMessage.Type

export const Message = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage)
export type Message = typeof Message.Type

export const system = (content: string): SystemMessage => SystemMessage.make({ content })
export const user = (content: string): UserMessage => UserMessage.make({ content })
export const assistant = (text: string, toolCalls: ReadonlyArray<ToolCall> = []): AssistantMessage =>
  AssistantMessage.make({ text, toolCalls })
export const toolResult = (options: {
  readonly toolCallId: string
  readonly toolName: string
  readonly content: string
  readonly isError: boolean
}): ToolMessage => ToolMessage.make(options)

/** Token accounting for one model step or a whole run. */
export class Usage extends Schema.Class<Usage>("Usage")({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number
}) {
  static readonly empty = new Usage({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })

  static add(a: Usage, b: Usage): Usage {
    return new Usage({
      inputTokens: a.inputTokens + b.inputTokens,
      outputTokens: a.outputTokens + b.outputTokens,
      totalTokens: a.totalTokens + b.totalTokens
    })
  }
}

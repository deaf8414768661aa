/**
 * Conversation messages and token usage, as Schemas so a run's history round-trips through JSON.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A tool call as the model produced it. `arguments` is the raw JSON text, kept verbatim for fidelity.
 * `remote` marks a call the provider executes itself (a hosted agent's server-side tool).
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  remote: Schema.optional(Schema.Boolean)
}).annotate({ identifier: "ToolCall" })
// Plain data, not a class: the loop builds one per call, and a class instance costs several times more.
export type ToolCall = typeof ToolCall.Type

/** A tool call (`remote` only when true, so local calls stay minimal). */
export const toolCall = (call: { readonly id: string; readonly name: string; readonly arguments: string; readonly remote?: boolean }): ToolCall =>
  call.remote === true ? { id: call.id, name: call.name, arguments: call.arguments, remote: true } : { id: call.id, name: call.name, arguments: call.arguments }

export const SystemMessage = Schema.TaggedStruct("SystemMessage", {
  content: Schema.String
})
export type SystemMessage = typeof SystemMessage.Type

/**
 * Why the loop itself wrote a user message (a re-prompt), rather than the user: the model answered a forced tool
 * choice in text (`tool_choice`), gave a final answer that failed the output schema (`output`), or tried to end
 * the run before its required tools ran (`required_tools`).
 */
export const RepromptKind = Schema.Literals(["tool_choice", "output", "required_tools"])
export type RepromptKind = typeof RepromptKind.Type

export const UserMessage = Schema.TaggedStruct("UserMessage", {
  content: Schema.String,
  /**
   * Set on the loop's own re-prompts only (absent on the user's turns), so context policies and handoff filters
   * can tell them apart: a re-prompt is not a turn. Optional, so runs stored before it existed still decode.
   */
  reprompt: Schema.optional(RepromptKind)
})
export type UserMessage = typeof UserMessage.Type

export const AssistantMessage = Schema.TaggedStruct("AssistantMessage", {
  text: Schema.String,
  toolCalls: Schema.Array(ToolCall),
  /** Calls of the provider's own tools that it asked us to approve before it runs them. */
  approvalRequests: Schema.optional(Schema.Array(ToolCall)),
  /** Provider state that continues the conversation (a hosted log id, run id, ...), keyed by provider. */
  metadata: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
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

/** Our decision on a provider's approval request; the provider runs (or refuses) the call itself. */
export const ApprovalMessage = Schema.TaggedStruct("ApprovalMessage", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  approved: Schema.Boolean,
  reason: Schema.optional(Schema.String)
})
export type ApprovalMessage = typeof ApprovalMessage.Type

export const Message = Schema.Union([SystemMessage, UserMessage, AssistantMessage, ToolMessage, ApprovalMessage])
export type Message = typeof Message.Type

/**
 * The constructors below build plain data from already-typed inputs, skipping Schema's construction-time
 * checks (a measurable cost on the loop's hot path); decoding external data still validates.
 */
const trusted = { disableChecks: true } as const

export const system = (content: string): SystemMessage => ({ _tag: "SystemMessage", content })
export const user = (content: string): UserMessage => ({ _tag: "UserMessage", content })
/** A user message the loop writes itself to correct the model (see `RepromptKind`). */
export const reprompt = (kind: RepromptKind, content: string): UserMessage => ({ _tag: "UserMessage", content, reprompt: kind })

/**
 * How the loop's re-prompts began before they were marked: stored runs from then are still read right. The first
 * covers tool-choice and required-tools re-prompts, the second typed-output ones (see `Output.reprompt`).
 */
const unmarkedReprompts = ["[This is an automated system message hidden from the user] ", "Your final answer does not match the required output schema: "]

/** Whether a message is one of the loop's re-prompts: marked as one, or (in runs stored before marks) worded as one. */
export const isReprompt = (message: Message): message is UserMessage =>
  message._tag === "UserMessage" && (message.reprompt !== undefined || unmarkedReprompts.some((prefix) => message.content.startsWith(prefix)))

/** Whether a message is a turn of the user's: a user message that is not a loop re-prompt. */
export const isUserTurn = (message: Message): message is UserMessage => message._tag === "UserMessage" && !isReprompt(message)

/** The index of the newest user turn (re-prompts skipped), or -1. */
export const lastUserTurn = (messages: ReadonlyArray<Message>): number => {
  for (let i = messages.length - 1; i >= 0; i--) if (isUserTurn(messages[i]!)) return i
  return -1
}
export const assistant = (
  text: string,
  toolCalls: ReadonlyArray<ToolCall> = [],
  options?: { readonly approvalRequests?: ReadonlyArray<ToolCall>; readonly metadata?: Readonly<Record<string, unknown>> }
): AssistantMessage =>
  options === undefined
    ? { _tag: "AssistantMessage", text, toolCalls }
    : {
        _tag: "AssistantMessage",
        text,
        toolCalls,
        ...(options.approvalRequests === undefined || options.approvalRequests.length === 0 ? {} : { approvalRequests: options.approvalRequests }),
        ...(options.metadata === undefined ? {} : { metadata: options.metadata })
      }
export const toolResult = (options: {
  readonly toolCallId: string
  readonly toolName: string
  readonly content: string
  readonly isError: boolean
}): ToolMessage => ({ _tag: "ToolMessage", ...options })

/** Token accounting for one model step or a whole run. */
export class Usage extends Schema.Class<Usage>("Usage")({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number
}) {
  static readonly empty = new Usage({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })

  static add(a: Usage, b: Usage): Usage {
    // Adding to or with nothing needs no new instance (usage is summed on every step).
    if (b.totalTokens === 0 && b.inputTokens === 0 && b.outputTokens === 0) return a
    if (a.totalTokens === 0 && a.inputTokens === 0 && a.outputTokens === 0) return b
    return new Usage(
      {
        inputTokens: a.inputTokens + b.inputTokens,
        outputTokens: a.outputTokens + b.outputTokens,
        totalTokens: a.totalTokens + b.totalTokens
      },
      trusted
    )
  }
}

/**
 * The OpenAI-compatible chat-completions wire format, mapped to and from agentloop's types. Shared by every
 * backend that speaks it (Heroku's `/v1/chat/completions` and `/v1/agents/heroku`, Humanloop's messages).
 * Pure. Parsing is lenient: unknown fields are ignored, missing ones tolerated.
 *
 * @since 0.1.0
 */
import { LanguageModel, Message } from "@agentloop/core"

export type WireMessage =
  | { readonly role: "system" | "user"; readonly content: string }
  | {
      readonly role: "assistant"
      readonly content: string | null
      readonly tool_calls?: ReadonlyArray<WireToolCall>
    }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

export interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/** Our conversation as chat-completions messages. Approval answers have no equivalent and are left out. */
export const toMessages = (messages: ReadonlyArray<Message.Message>): Array<WireMessage> => {
  const out: Array<WireMessage> = []
  for (const message of messages) {
    switch (message._tag) {
      case "SystemMessage":
        out.push({ role: "system", content: message.content })
        break
      case "UserMessage":
        out.push({ role: "user", content: message.content })
        break
      case "AssistantMessage":
        out.push({
          role: "assistant",
          content: message.text.length === 0 ? null : message.text,
          ...(message.toolCalls.length === 0 ? {} : { tool_calls: message.toolCalls.map(toWireCall) })
        })
        break
      case "ToolMessage":
        // No `name`: the chat-completions schema has none on tool messages (strict servers refuse it).
        out.push({ role: "tool", tool_call_id: message.toolCallId, content: message.content })
        break
      case "ApprovalMessage":
        break
    }
  }
  return out
}

export const toWireCall = (call: Message.ToolCall): WireToolCall => ({
  id: call.id,
  type: "function",
  function: { name: call.name, arguments: call.arguments }
})

export const toTools = (tools: ReadonlyArray<LanguageModel.ToolDefinition>) =>
  tools.map((tool) => ({
    type: "function" as const,
    function: { name: tool.name, description: tool.description, parameters: tool.parameters }
  }))

export const toToolChoice = (choice: LanguageModel.ToolChoice) =>
  typeof choice === "string" ? choice : { type: "function" as const, function: { name: choice.function } }

/** A typed output's schema as OpenAI's structured-output response format. */
export const toResponseFormat = (format: LanguageModel.ResponseFormat) => ({
  type: "json_schema" as const,
  json_schema: { name: format.name, schema: format.schema }
})

export const toFinishReason = (reason: unknown): LanguageModel.FinishReason => {
  switch (reason) {
    case "stop":
    case "end_turn":
      return "stop"
    case "tool_calls":
    case "function_call":
    case "tool_use":
      return "tool_calls"
    case "length":
    case "max_tokens":
      return "length"
    case "content_filter":
      return "content_filter"
    default:
      return "other"
  }
}

export const toUsage = (usage: unknown): Message.Usage => {
  const u = (usage ?? {}) as Record<string, unknown>
  const input = num(u["prompt_tokens"] ?? u["input_tokens"])
  const output = num(u["completion_tokens"] ?? u["output_tokens"])
  return new Message.Usage({ inputTokens: input, outputTokens: output, totalTokens: num(u["total_tokens"]) || input + output })
}

/**
 * For a call the provider sent without an id. Random, so it is unique in the run: an id like `call_<index>`
 * would come back on every step, and durable runs and tool results are matched by id.
 */
const generatedCallId = (): string => `call_${globalThis.crypto.randomUUID().replaceAll("-", "")}`

const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0)
const str = (value: unknown): string => (typeof value === "string" ? value : "")

/** The parts of a whole (non-streamed) completion object, or of one whole message in it. */
export const fromCompletion = (completion: unknown): Array<LanguageModel.ResponsePart> => {
  const body = (completion ?? {}) as Record<string, any>
  const choice = (Array.isArray(body["choices"]) ? body["choices"][0] : undefined) ?? {}
  const message = (choice["message"] ?? {}) as Record<string, any>
  const parts: Array<LanguageModel.ResponsePart> = []
  const content = contentText(message["content"])
  if (content.length > 0) parts.push(LanguageModel.textDelta(content))
  for (const call of Array.isArray(message["tool_calls"]) ? message["tool_calls"] : []) {
    parts.push(LanguageModel.toolCall({ id: str(call?.id) || generatedCallId(), name: str(call?.function?.name), arguments: str(call?.function?.arguments) }))
  }
  parts.push(LanguageModel.finish(toFinishReason(choice["finish_reason"]), toUsage(body["usage"])))
  return parts
}

/**
 * The provider's message when a streamed chunk (or a whole answer) is an error object rather than a
 * completion: `{"error": {"message": ...}}`, `{"error": "..."}` or `{"object": "error", "message": ...}`.
 */
export const errorOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const b = body as Record<string, any>
  const error = b["error"]
  if (typeof error === "string" && error.length > 0) return error
  if (typeof error === "object" && error !== null) return typeof error["message"] === "string" ? error["message"] : JSON.stringify(error)
  if (b["object"] === "error" || b["type"] === "error") return typeof b["message"] === "string" ? b["message"] : JSON.stringify(b)
  return undefined
}

/** Text content, whether a string or an array of `{ type: "text", text }` parts. */
export const contentText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (Array.isArray(content)) return content.map((part) => (typeof part?.text === "string" ? part.text : "")).join("")
  return ""
}

/**
 * Accumulates streamed `chat.completion.chunk` objects: text deltas are passed on at once; tool-call
 * fragments (by `index`) are assembled and emitted whole at the end, followed by the finish part.
 */
export class ChunkAccumulator {
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>()
  private finishReason: LanguageModel.FinishReason | undefined
  private usage: Message.Usage = Message.Usage.empty

  push(chunk: unknown): Array<LanguageModel.ResponsePart> {
    const body = (chunk ?? {}) as Record<string, any>
    const parts: Array<LanguageModel.ResponsePart> = []
    if (body["usage"] !== undefined && body["usage"] !== null) this.usage = toUsage(body["usage"])
    const choice = Array.isArray(body["choices"]) ? body["choices"][0] : undefined
    if (choice === undefined) return parts
    // Some servers stream whole messages (`message`) rather than `delta`s.
    const delta = (choice["delta"] ?? choice["message"] ?? {}) as Record<string, any>
    const text = contentText(delta["content"])
    if (text.length > 0) parts.push(LanguageModel.textDelta(text))
    const toolCalls = Array.isArray(delta["tool_calls"]) ? delta["tool_calls"] : []
    toolCalls.forEach((fragment: any, position: number) => {
      const index = typeof fragment?.index === "number" ? fragment.index : position
      const current = this.calls.get(index) ?? { id: "", name: "", arguments: "" }
      if (typeof fragment?.id === "string" && fragment.id.length > 0) current.id = fragment.id
      if (typeof fragment?.function?.name === "string") current.name += fragment.function.name
      if (typeof fragment?.function?.arguments === "string") current.arguments += fragment.function.arguments
      this.calls.set(index, current)
    })
    if (typeof choice["finish_reason"] === "string" && choice["finish_reason"].length > 0) {
      this.finishReason = toFinishReason(choice["finish_reason"])
    }
    return parts
  }

  end(): Array<LanguageModel.ResponsePart> {
    const parts: Array<LanguageModel.ResponsePart> = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => LanguageModel.toolCall({ id: call.id || generatedCallId(), name: call.name, arguments: call.arguments }))
    parts.push(LanguageModel.finish(this.finishReason ?? (this.calls.size > 0 ? "tool_calls" : "stop"), this.usage))
    return parts
  }
}

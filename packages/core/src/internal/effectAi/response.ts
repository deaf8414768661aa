/**
 * Response parts, usage, finish reasons and tool choice between agentloop and effect/ai (see `EffectAi`).
 *
 * @internal
 */
import * as Base64 from "effect/encoding/Base64"
import type * as AiLanguageModel from "effect/ai/LanguageModel"
import type * as Response from "effect/ai/Response"
import * as LanguageModel from "../../LanguageModel.js"
import * as Message from "../../Message.js"
import { argumentsText, resultText } from "./prompt.js"

// -----------------------------------------------------------------------------
// finish reasons, usage, tool choice
// -----------------------------------------------------------------------------

/**
 * effect/ai's finish reason as agentloop's. `unknown` is what agentloop assumes of a step without one:
 * `tool_calls` if calls arrived, else `stop`.
 */
export const fromAiFinishReason = (reason: Response.FinishReason, sawCalls: boolean): LanguageModel.FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content-filter":
      return "content_filter"
    case "tool-calls":
      return "tool_calls"
    case "error":
      return "error"
    case "unknown":
      return sawCalls ? "tool_calls" : "stop"
    case "pause":
    case "other":
      return "other"
  }
}

export const toAiFinishReason = (reason: LanguageModel.FinishReason): Response.FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
      return "tool-calls"
    case "error":
      return "error"
    case "other":
      return "other"
  }
}

/**
 * effect/ai usage as agentloop's: input = `inputTokens.total` (else uncached + cache reads + cache writes),
 * output = `outputTokens.total` (else text + reasoning), total = their sum.
 */
export const fromAiUsage = (usage: Response.Usage | typeof Response.Usage.Encoded): Message.Usage => {
  const input = usage.inputTokens.total ?? (usage.inputTokens.uncached ?? 0) + (usage.inputTokens.cacheRead ?? 0) + (usage.inputTokens.cacheWrite ?? 0)
  const output = usage.outputTokens.total ?? (usage.outputTokens.text ?? 0) + (usage.outputTokens.reasoning ?? 0)
  return input === 0 && output === 0
    ? Message.Usage.empty
    : new Message.Usage({ inputTokens: input, outputTokens: output, totalTokens: input + output }, { disableChecks: true })
}

/** agentloop usage as effect/ai's (encoded): the totals; the breakdowns agentloop does not keep are absent. */
export const toAiUsage = (usage: Message.Usage): typeof Response.Usage.Encoded => ({
  inputTokens: { total: usage.inputTokens },
  outputTokens: { total: usage.outputTokens }
})

/** agentloop's tool choice as effect/ai's: `{ function }` is `{ tool }`. */
export const toAiToolChoice = (choice: LanguageModel.ToolChoice): AiLanguageModel.ToolChoice<string> =>
  typeof choice === "string" ? choice : { tool: choice.function }

/**
 * effect/ai's tool choice as agentloop's. `{ oneOf, mode }`: effect/ai has already narrowed the tools to
 * `oneOf`; `mode: "required"` is `required` (`{ function }` when `oneOf` names one tool), else `auto`.
 */
export const fromAiToolChoice = (choice: AiLanguageModel.ToolChoice<string>): LanguageModel.ToolChoice => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { function: choice.tool }
  if (choice.mode === "required") return choice.oneOf.length === 1 ? { function: choice.oneOf[0]! } : "required"
  return "auto"
}

// -----------------------------------------------------------------------------
// effect/ai response parts -> agentloop response parts
// -----------------------------------------------------------------------------

const raw = (data: Record<string, unknown>): LanguageModel.ResponsePart => LanguageModel.raw("effect/ai", data)

/**
 * Maps a step's effect/ai parts (decoded, streamed or whole) to agentloop parts, in order. Keeps what it needs
 * across chunks: whether calls arrived (for an `unknown` finish), reasoning being streamed, what was produced
 * (for a `ModelError`'s `received`), and an error part.
 */
export class FromAiParts {
  sawCalls = false
  readonly received: Array<LanguageModel.ResponsePart> = []
  /** The first error part, if the provider reported one: the step fails with it. */
  error: { readonly value: unknown } | undefined = undefined
  private readonly reasoning = new Map<string, string>()

  /** Maps a chunk; parts after an error part are not mapped. */
  add(parts: ReadonlyArray<Response.AnyPart>): Array<LanguageModel.ResponsePart> {
    const out: Array<LanguageModel.ResponsePart> = []
    for (let i = 0; i < parts.length && this.error === undefined; i++) this.one(parts[i]!, out)
    for (let i = 0; i < out.length; i++) this.received.push(out[i]!)
    return out
  }

  private one(part: Response.AnyPart, out: Array<LanguageModel.ResponsePart>): void {
    switch (part.type) {
      case "text-delta":
        if (part.delta.length > 0) out.push(LanguageModel.textDelta(part.delta))
        return
      case "text":
        if (part.text.length > 0) out.push(LanguageModel.textDelta(part.text))
        return
      case "tool-call": {
        this.sawCalls = true
        const call = { id: part.id, name: part.name, arguments: argumentsText(part.params) }
        out.push(part.providerExecuted ? LanguageModel.remoteToolCall(call) : LanguageModel.toolCall(call))
        return
      }
      case "tool-result":
        // Calls are never resolved here: only the provider's own tools' results arrive (the final ones kept).
        if (part.preliminary) return
        if (!part.providerExecuted) {
          out.push(raw({ type: "tool-result", id: part.id, name: part.name, isFailure: part.isFailure, result: part.encodedResult }))
          return
        }
        out.push(
          LanguageModel.remoteToolResult({
            toolCallId: part.id,
            toolName: part.name,
            content: resultText({ result: part.encodedResult, modelOutput: part.modelOutput }),
            isError: part.isFailure
          })
        )
        return
      case "finish":
        out.push(LanguageModel.finish(fromAiFinishReason(part.reason, this.sawCalls), fromAiUsage(part.usage)))
        return
      case "error":
        this.error = { value: part.error }
        return
      case "reasoning-start":
        this.reasoning.set(part.id, "")
        return
      case "reasoning-delta":
        this.reasoning.set(part.id, (this.reasoning.get(part.id) ?? "") + part.delta)
        return
      case "reasoning-end": {
        const text = this.reasoning.get(part.id) ?? ""
        this.reasoning.delete(part.id)
        if (text.length > 0) out.push(raw({ type: "reasoning", text }))
        return
      }
      case "reasoning":
        if (part.text.length > 0) out.push(raw({ type: "reasoning", text: part.text }))
        return
      case "tool-approval-request":
        out.push(raw({ type: "tool-approval-request", approvalId: part.approvalId, toolCallId: part.toolCallId }))
        return
      case "file":
        out.push(raw({ type: "file", mediaType: part.mediaType, data: Base64.encode(part.data) }))
        return
      case "source":
        out.push(
          raw(
            part.sourceType === "url"
              ? { type: "source", sourceType: "url", id: part.id, url: part.url.toString(), title: part.title }
              : { type: "source", sourceType: "document", id: part.id, mediaType: part.mediaType, title: part.title }
          )
        )
        return
      case "response-metadata":
        out.push(
          raw({
            type: "response-metadata",
            ...(part.id === undefined ? {} : { id: part.id }),
            ...(part.modelId === undefined ? {} : { modelId: part.modelId })
          })
        )
        return
      case "text-start":
      case "text-end":
      case "tool-params-start":
      case "tool-params-delta":
      case "tool-params-end":
        // The complete call follows as a `tool-call` part; text boundaries carry nothing agentloop keeps.
        return
    }
  }
}

// -----------------------------------------------------------------------------
// agentloop response parts -> effect/ai encoded parts
// -----------------------------------------------------------------------------

/**
 * What agentloop parts carry that effect/ai has no decodable part for (a provider's own calls and results, its
 * approval requests, conversation metadata, raw parts): kept on the finish part's `metadata.agentloop`.
 * effect/ai decodes tool calls against the request's toolkit, so a call of a tool it does not know would fail
 * the whole response.
 */
interface Extras {
  remoteToolCalls?: Array<{ id: string; name: string; arguments: string }>
  remoteToolResults?: Array<{ toolCallId: string; toolName: string; content: string; isError: boolean }>
  approvalRequests?: Array<{ id: string; name: string; arguments: string }>
  metadata?: Record<string, unknown>
  raw?: Array<{ source: string; data: unknown }>
}

/** Anything as JSON (what effect/ai's provider metadata holds). */
const json = (value: unknown): unknown => {
  try {
    return JSON.parse(JSON.stringify(value) ?? "null")
  } catch {
    return String(value)
  }
}

/** An encoded part of a streamed step, or a whole text (a step not streamed). */
type EncodedPart = Response.StreamPartEncoded | Response.TextPartEncoded

/** Maps a step's agentloop parts to effect/ai encoded parts, streamed (`text-start`/`-delta`/`-end`) or whole. */
export class ToAiParts {
  private textOpen = false
  private textIndex = 0
  private text = ""
  private sawCalls = false
  private finished = false
  private extras: Extras | undefined = undefined

  constructor(
    private readonly streaming: boolean,
    /** Told of every finish part made (to annotate a span). */
    private readonly onFinish?: (finish: Response.FinishPartEncoded) => void
  ) {}

  private get textId() {
    return `text_${this.textIndex}`
  }

  private closeText(out: Array<EncodedPart>) {
    if (this.streaming) {
      if (this.textOpen) out.push({ type: "text-end", id: this.textId })
    } else if (this.text.length > 0) {
      out.push({ type: "text", text: this.text })
      this.text = ""
    }
    if (this.textOpen) this.textIndex++
    this.textOpen = false
  }

  private extra(): Extras {
    return (this.extras ??= {})
  }

  add(parts: ReadonlyArray<LanguageModel.ResponsePart>): Array<EncodedPart> {
    const out: Array<EncodedPart> = []
    for (const part of parts) {
      switch (part._tag) {
        case "TextDelta":
          if (this.streaming) {
            if (!this.textOpen) out.push({ type: "text-start", id: this.textId })
            out.push({ type: "text-delta", id: this.textId, delta: part.delta })
          } else {
            this.text += part.delta
          }
          this.textOpen = true
          break
        case "ToolCall":
          this.closeText(out)
          this.sawCalls = true
          out.push({ type: "tool-call", id: part.call.id, name: part.call.name, params: argumentsValueOrText(part.call.arguments), providerExecuted: false })
          break
        case "RemoteToolCall":
          ;(this.extra().remoteToolCalls ??= []).push({ id: part.call.id, name: part.call.name, arguments: part.call.arguments })
          break
        case "RemoteToolResult":
          ;(this.extra().remoteToolResults ??= []).push({ toolCallId: part.toolCallId, toolName: part.toolName, content: part.content, isError: part.isError })
          break
        case "ApprovalRequest":
          ;(this.extra().approvalRequests ??= []).push({ id: part.call.id, name: part.call.name, arguments: part.call.arguments })
          break
        case "Metadata":
          this.extra().metadata = { ...this.extra().metadata, ...part.metadata }
          break
        case "Raw":
          ;(this.extra().raw ??= []).push({ source: part.source, data: part.data })
          break
        case "Finish":
          this.closeText(out)
          this.finished = true
          out.push(this.finish(part.reason, part.usage))
          break
      }
    }
    return out
  }

  /** What closes the step: open text, and a finish part if the model sent none (agentloop's default reason). */
  end(): Array<EncodedPart> {
    const out: Array<EncodedPart> = []
    this.closeText(out)
    if (!this.finished) out.push(this.finish(this.sawCalls ? "tool_calls" : "stop", Message.Usage.empty))
    return out
  }

  private finish(reason: LanguageModel.FinishReason, usage: Message.Usage): Response.FinishPartEncoded {
    const extras = this.extras
    this.extras = undefined
    const finish: Response.FinishPartEncoded = {
      type: "finish",
      reason: toAiFinishReason(reason),
      usage: toAiUsage(usage),
      ...(extras === undefined ? {} : { metadata: { agentloop: json(extras) as never } })
    }
    this.onFinish?.(finish)
    return finish
  }
}

/** A call's arguments for effect/ai: the JSON value, `{}` for none, the text itself when it is not JSON. */
const argumentsValueOrText = (raw: string): unknown => {
  if (raw.trim() === "") return {}
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

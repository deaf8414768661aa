/**
 * Folds a model step's parts into a `StepResponse` (see `LanguageModel.collectParts` / `collectStep`); shared
 * with the loop, which runs a step (`internal/runStep`) without the laziness `collectStep` adds.
 *
 * @internal
 */
import type { FinishReason, ResponsePart, StepHandlers, StepResponse } from "./response.js"
import { type Message, type ToolCall, toolCall as makeToolCall, Usage } from "../Message.js"

const noCalls: ReadonlyArray<ToolCall> = []
/** A provider's call, marked as one it runs itself (whoever built the part). */
const asRemote = (call: ToolCall): ToolCall => (call.remote === true ? call : makeToolCall({ ...call, remote: true }))
const noMessages: ReadonlyArray<Message> = []

/**
 * Folds a step's parts, as they arrive, into a `StepResponse`, reporting them to `handlers`. A class with
 * lazily made arrays: one is made per step, so it allocates as little as it can.
 */
export class StepCollector {
  private text = ""
  private pendingText = ""
  private transcript: Array<Message> | undefined
  private toolCalls: Array<ToolCall> | undefined
  private approvalRequests: Array<ToolCall> | undefined
  private metadata: Record<string, unknown> | undefined
  private finishReason: FinishReason | undefined
  private usage = Usage.empty
  constructor(private readonly handlers: StepHandlers) {}

  /** Empties the collector for the next step (the loop keeps one per run: `internal/runStep.ts` `StepLoop`). */
  reset(): void {
    this.text = ""
    this.pendingText = ""
    this.transcript = undefined
    this.toolCalls = undefined
    this.approvalRequests = undefined
    this.metadata = undefined
    this.finishReason = undefined
    this.usage = Usage.empty
  }

  add(part: ResponsePart): void {
    switch (part._tag) {
      case "TextDelta":
        this.text += part.delta
        this.pendingText += part.delta
        this.handlers.onText?.(part.delta)
        return
      case "ToolCall":
        // An array literal for the first call, not a push into an empty array (which makes room for 16): the
        // array becomes the step's assistant message, kept for the whole run (~0.12 KB less per step).
        if (this.toolCalls === undefined) this.toolCalls = [part.call]
        else this.toolCalls.push(part.call)
        return
      case "RemoteToolCall": {
        const call = asRemote(part.call)
        this.transcribe({ _tag: "AssistantMessage", text: this.pendingText, toolCalls: [call] })
        this.pendingText = ""
        this.handlers.onRemoteCall?.(call)
        return
      }
      case "RemoteToolResult":
        this.transcribe({
          _tag: "ToolMessage",
          toolCallId: part.toolCallId,
          toolName: part.toolName,
          content: part.content,
          isError: part.isError
        })
        this.handlers.onRemoteResult?.(part)
        return
      case "ApprovalRequest":
        if (this.approvalRequests === undefined) this.approvalRequests = [asRemote(part.call)]
        else this.approvalRequests.push(asRemote(part.call))
        return
      case "Metadata":
        this.metadata = { ...this.metadata, ...part.metadata }
        return
      case "Raw":
        this.handlers.onRaw?.(part)
        return
      case "Finish":
        this.finishReason = part.reason
        this.usage = Usage.add(this.usage, part.usage)
        return
    }
  }

  /** As for the calls: the first message by an array literal. */
  private transcribe(message: Message): void {
    if (this.transcript === undefined) this.transcript = [message]
    else this.transcript.push(message)
  }

  result(): StepResponse {
    const toolCalls = this.toolCalls ?? noCalls
    const approvalRequests = this.approvalRequests ?? noCalls
    return {
      text: this.text,
      transcript: this.transcript ?? noMessages,
      finalText: this.pendingText,
      toolCalls,
      approvalRequests,
      metadata: this.metadata,
      finishReason: this.finishReason ?? (toolCalls.length + approvalRequests.length > 0 ? "tool_calls" : "stop"),
      usage: this.usage
    }
  }
}


/**
 * Humanloop Agents as a `LanguageModel`. The first step of a turn calls `POST /agents/call` with the agent
 * configuration inline and our tools as inline JSON-schema tools (which Humanloop cannot run, so it
 * suspends the log as `incomplete` and hands the calls back). The loop runs them locally, with our tool rules
 * and approvals, and the next step sends the results with `POST /agents/continue`.
 *
 * The log id travels in the assistant message's metadata (`metadata.humanloop`), so a run suspended for
 * approval resumes in another process and still continues the same Humanloop log.
 *
 * @since 0.1.0
 */
import { AgentBackend, type Agent, LanguageModel, Message, type Tool } from "@agentloop/core"
import { ChatCompletions, Http, Model, Sse } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { type Effect, Layer, Redacted } from "effect"

export interface Options extends Http.ClientOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.humanloop.com/v5`. */
  readonly baseUrl?: string
  /** The agent's path in the Humanloop filesystem (e.g. `Banking/Teller Agent`), or use `id`. */
  readonly path?: string
  readonly id?: string
  /** The agent configuration sent inline (`model` is required; `tools` are filled in from our toolkit). */
  readonly agent: {
    readonly model: string
    readonly provider?: string
    readonly endpoint?: "chat" | "complete" | "edit"
    readonly template?: unknown
    readonly temperature?: number
    readonly max_tokens?: number
    readonly max_iterations?: number
    readonly [key: string]: unknown
  }
  /** Stream events (default true) or read one JSON response. */
  readonly stream?: boolean
  readonly versionId?: string
  readonly environment?: string
}

export const capabilities: AgentBackend.Capabilities = { clientTools: true, approvals: true, toolRules: true, streaming: true }

export interface LogState {
  readonly logId: string
  readonly logStatus: "complete" | "incomplete"
}

/** The Humanloop log the conversation is in, if its last assistant message left it incomplete. */
export const openLog = (messages: ReadonlyArray<Message.Message>): { readonly log: LogState; readonly after: ReadonlyArray<Message.Message> } | undefined => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag !== "AssistantMessage") continue
    const log = message.metadata?.["humanloop"] as LogState | undefined
    if (log === undefined || log.logStatus !== "incomplete") return undefined
    return { log, after: messages.slice(i + 1) }
  }
  return undefined
}

const inlineTool = (tool: LanguageModel.ToolDefinition) => ({
  type: "inline" as const,
  json_schema: { name: tool.name, description: tool.description, parameters: tool.parameters },
  on_agent_call: "continue" as const
})

/** Parts of a non-streamed `AgentCallResponse`. */
export const responseParts = (body: any, ours: ReadonlySet<string>): Array<LanguageModel.ResponsePart> => {
  if (typeof body?.error === "string" && body.error.length > 0) {
    throw new LanguageModel.ModelError({ provider: "humanloop", message: `humanloop log error: ${body.error}`, retryable: false, reason: "provider-error" })
  }
  const parts: Array<LanguageModel.ResponsePart> = []
  const incomplete = body?.log_status === "incomplete"
  const message = incomplete ? body?.previous_agent_message : (body?.output_message ?? { content: body?.output })
  const text = ChatCompletions.contentText(message?.content)
  if (text.length > 0) parts.push(LanguageModel.textDelta(text))
  for (const call of incomplete && Array.isArray(message?.tool_calls) ? message.tool_calls : []) {
    parts.push(callPart(call, ours))
  }
  parts.push(LanguageModel.metadata({ humanloop: { logId: String(body?.id ?? ""), logStatus: incomplete ? "incomplete" : "complete" } }))
  const usage = new Message.Usage({
    inputTokens: num(body?.prompt_tokens),
    outputTokens: num(body?.output_tokens),
    totalTokens: num(body?.prompt_tokens) + num(body?.output_tokens)
  })
  parts.push(LanguageModel.finish(incomplete ? "tool_calls" : finishReason(body?.finish_reason), usage))
  return parts
}

const num = (value: unknown) => (typeof value === "number" ? value : 0)
const finishReason = (reason: unknown): LanguageModel.FinishReason =>
  reason === undefined || reason === null ? "stop" : ChatCompletions.toFinishReason(reason)

/** A call of one of our tools comes back to us; anything else Humanloop runs itself. */
const callPart = (call: any, ours: ReadonlySet<string>): LanguageModel.ResponsePart => {
  const fields = { id: String(call?.id ?? ""), name: String(call?.function?.name ?? ""), arguments: String(call?.function?.arguments ?? "") }
  return ours.has(fields.name) ? LanguageModel.toolCall(fields) : LanguageModel.remoteToolCall(fields)
}

interface StreamState {
  logId: string
  status: "complete" | "incomplete"
  seen: Set<string>
  usage: Message.Usage
  /** A turn-ending event (`agent_turn_suspend`, `agent_turn_end`, `agent_end`) or `[DONE]` arrived. */
  ended: boolean
}

const agentError = (message: string) =>
  new LanguageModel.ModelError({ provider: "humanloop", message: `humanloop: ${message}`, retryable: false, reason: "provider-error" })

/** Maps streamed events; `state` collects what only the end of the stream settles. */
const eventParts = (event: Sse.SseEvent, ours: ReadonlySet<string>, state: StreamState): Array<LanguageModel.ResponsePart> => {
  if (Sse.isDone(event)) {
    state.ended = true
    return []
  }
  if (event.event === "error") throw agentError(Http.errorMessage(event.data))
  let body: any
  try {
    body = JSON.parse(event.data)
  } catch {
    return [LanguageModel.raw("humanloop", { malformed: event.data })]
  }
  if (typeof body?.log_id === "string" && state.logId === "") state.logId = body.log_id
  const payload = body?.payload
  switch (body?.type) {
    case "agent_update":
    case "agent_start":
    case "agent_turn_start":
    case "agent_turn_continue":
    case "agent_turn_end":
    case "agent_end": {
      // A log stream chunk's `error` field reports a failed generation.
      if (typeof payload?.error === "string" && payload.error.length > 0) throw agentError(payload.error)
      const parts: Array<LanguageModel.ResponsePart> = []
      // Token deltas: `payload.output` on agent stream chunks (they carry `agent_id`).
      if (payload?.agent_id !== undefined && typeof payload?.output === "string" && payload.output.length > 0) {
        parts.push(LanguageModel.textDelta(payload.output))
      }
      if (payload?.prompt_tokens !== undefined || payload?.output_tokens !== undefined) {
        state.usage = Message.Usage.add(
          state.usage,
          new Message.Usage({ inputTokens: num(payload.prompt_tokens), outputTokens: num(payload.output_tokens), totalTokens: num(payload.prompt_tokens) + num(payload.output_tokens) })
        )
      }
      if (body.type === "agent_turn_end" || body.type === "agent_end") {
        state.status = "complete"
        state.ended = true
      }
      return parts
    }
    case "tool_start": {
      if (payload?.type !== "function" || typeof payload?.id !== "string" || state.seen.has(payload.id)) return []
      state.seen.add(payload.id)
      return [callPart(payload, ours)]
    }
    case "tool_end": {
      // The end of a tool Humanloop ran itself: its log carries the output.
      const id = String(payload?.source_datapoint_id ?? payload?.tool_call_id ?? payload?.id ?? "")
      return [
        LanguageModel.remoteToolResult({
          toolCallId: id,
          toolName: String(payload?.tool?.name ?? payload?.name ?? ""),
          content: typeof payload?.output === "string" ? payload.output : JSON.stringify(payload?.output ?? null),
          isError: typeof payload?.error === "string" && payload.error.length > 0
        })
      ]
    }
    case "agent_turn_suspend":
      state.status = "incomplete"
      state.ended = true
      return []
    case "agent_turn_error":
    case "agent_generation_error":
    case "error":
      throw agentError(String(payload?.error ?? body?.message ?? "agent error"))
    default:
      return [LanguageModel.raw("humanloop", body)]
  }
}

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const baseUrl = Http.baseUrl(options.baseUrl, "https://api.humanloop.com/v5")
  const streaming = options.stream ?? true
  const headers = { "X-API-KEY": Redacted.value(options.apiKey), "Content-Type": "application/json" }
  return Model.make((request) => {
    // A log's tools are fixed at /agents/call: declare them all; the loop enforces the rules per call.
    const ours = new Set(request.availableTools.map((t) => t.name))
    const open = openLog(request.messages)
    const results = open?.after.filter((m): m is Message.ToolMessage => m._tag === "ToolMessage") ?? []
    const continuing = open !== undefined && results.length > 0 && open.after.every((m) => m._tag === "ToolMessage")
    const query = new URLSearchParams({
      ...(options.versionId === undefined ? {} : { version_id: options.versionId }),
      ...(options.environment === undefined ? {} : { environment: options.environment })
    }).toString()
    // Both calls create or advance a log: once delivered, they are never sent again.
    const http: Http.Request = continuing
      ? {
          provider: "humanloop",
          idempotent: false,
          method: "POST",
          url: `${baseUrl}/agents/continue`,
          headers,
          body: {
            log_id: open.log.logId,
            messages: results.map((r) => ({ role: "tool", tool_call_id: r.toolCallId, content: r.content })),
            stream: streaming
          },
          ...Http.clientOptions(options)
        }
      : {
          provider: "humanloop",
          idempotent: false,
          method: "POST",
          url: `${baseUrl}/agents/call${query.length === 0 ? "" : `?${query}`}`,
          headers,
          body: {
            ...(options.path === undefined ? {} : { path: options.path }),
            ...(options.id === undefined ? {} : { id: options.id }),
            agent: { endpoint: "chat", ...options.agent, tools: request.availableTools.map(inlineTool) },
            messages: ChatCompletions.toMessages(request.messages),
            ...(request.availableTools.length === 0 ? {} : { tool_choice: ChatCompletions.toToolChoice(request.toolChoice) }),
            stream: streaming
          },
          ...Http.clientOptions(options)
        }
    if (!streaming) return Model.jsonParts(http, (json) => responseParts(json, ours))
    return Model.streamParts(http, {
      decoder: () => new Sse.Decoder(),
      initial: (): StreamState => ({ logId: "", status: "complete", seen: new Set<string>(), usage: Message.Usage.empty, ended: false }),
      item: (event, state) => eventParts(event, ours, state),
      complete: (state) => state.ended,
      end: (state) => [
        LanguageModel.metadata({ humanloop: { logId: state.logId, logStatus: state.status } }),
        LanguageModel.finish(state.status === "incomplete" ? "tool_calls" : "stop", state.usage)
      ]
    })
  })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** `layer` over the runtime's own `fetch` (see `Http.withFetch`): it needs no HttpClient. */
export const layerFetch = (options: Options): Layer.Layer<LanguageModel.LanguageModel> => Http.withFetch(layer(options))

/** An `AgentBackend` on Humanloop: the loop over `HumanloopModel`, with client tools, approvals and rules. */
export const layerBackend = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, options: Options) =>
  AgentBackend.layerWith(agent, { name: "humanloop", capabilities }).pipe(Layer.provide(layer(options)))

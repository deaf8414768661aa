/**
 * A Letta agent as a `LanguageModel`. Letta keeps the conversation itself, so each step posts only what is
 * new since the last exchange (`POST /v1/agents/{id}/messages/stream`):
 *
 * - new user messages, as `MessageCreate`s;
 * - the answer to the previous step's approval requests, as one `ApprovalCreate` that covers every pending
 *   call (Letta rejects partial answers): results of our client tools (`type: "tool"`) and our decisions on
 *   Letta's own tools (`type: "approval"`).
 *
 * The stream maps every `message_type`: assistant text, server-side tool calls and returns (remote),
 * approval requests (our client tools, which the loop runs; or Letta's tools, which the loop approves or
 * denies through its rules and `Approvals`), reasoning, pings and anything unknown (kept as raw parts),
 * stop reasons and usage, and errors.
 *
 * @since 0.1.0
 */
import { AgentBackend, type Agent, LanguageModel, Message, type Tool } from "@agentloop/core"
import { ChatCompletions, Http, Model, Sse } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { type Effect, Layer, Redacted } from "effect"
import { DEFAULT_BASE_URL } from "./LettaClient.js"

export interface Options extends Http.ClientOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.letta.com`. */
  readonly baseUrl?: string
  readonly agentId: string
  /** Letta's own step limit per request. */
  readonly maxSteps?: number
  /** Token-level deltas (`stream_tokens`). Default false: one event per message. */
  readonly streamTokens?: boolean
}

export const capabilities: AgentBackend.Capabilities = { clientTools: true, approvals: true, toolRules: true, streaming: true }

interface Exchange {
  readonly agentId: string
  readonly stopReason?: string
}

/** What to send: everything after the last message Letta produced (or the trailing user messages). */
export const newMessages = (messages: ReadonlyArray<Message.Message>) => {
  let lastLetta = -1
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    if (m._tag === "AssistantMessage" && m.metadata?.["letta"] !== undefined) {
      lastLetta = i
      break
    }
  }
  if (lastLetta === -1) {
    // A conversation Letta has not seen: send the user's latest messages only (Letta keeps its own memory).
    let start = messages.length
    while (start > 0 && messages[start - 1]!._tag === "UserMessage") start--
    return { previous: undefined, after: messages.slice(start) }
  }
  return { previous: messages[lastLetta] as Message.AssistantMessage, after: messages.slice(lastLetta + 1) }
}

/** The request's `messages`: one approval answer (if calls were pending), then new user messages. */
export const requestMessages = (messages: ReadonlyArray<Message.Message>): Array<unknown> => {
  const { after } = newMessages(messages)
  const approvals: Array<unknown> = []
  const users: Array<unknown> = []
  for (const m of after) {
    if (m._tag === "ToolMessage") {
      approvals.push({ type: "tool", tool_call_id: m.toolCallId, tool_return: m.content, status: m.isError ? "error" : "success", stdout: [], stderr: [] })
    } else if (m._tag === "ApprovalMessage") {
      approvals.push({ type: "approval", tool_call_id: m.toolCallId, approve: m.approved, ...(m.reason === undefined ? {} : { reason: m.reason }) })
    } else if (m._tag === "UserMessage") {
      users.push({ type: "message", role: "user", content: m.content })
    }
  }
  return [...(approvals.length === 0 ? [] : [{ type: "approval", approvals }]), ...users]
}

const stopReasons: Record<string, LanguageModel.FinishReason> = {
  end_turn: "stop",
  tool_rule: "stop",
  requires_approval: "tool_calls",
  max_steps: "length",
  max_tokens_exceeded: "length",
  cancelled: "other",
  no_tool_call: "other"
}

interface State {
  usage: Message.Usage
  stopReason: string | undefined
  /** `data: [DONE]` arrived. */
  done: boolean
  /** Approval requests, assembled by tool-call id (token streaming sends argument fragments). */
  readonly approvals: Map<string, { name: string; arguments: string }>
}

const lettaError = (message: string) => new LanguageModel.ModelError({ provider: "letta", message: `letta: ${message}`, retryable: false, reason: "provider-error" })

/** `deltas`: with token streaming, approval-request arguments arrive in fragments to concatenate. */
const messageParts = (body: any, state: State, deltas: boolean): Array<LanguageModel.ResponsePart> => {
  switch (body?.message_type) {
    case "assistant_message": {
      const text = ChatCompletions.contentText(body.content)
      return text.length === 0 ? [] : [LanguageModel.textDelta(text)]
    }
    case "tool_call_message": {
      const calls = Array.isArray(body.tool_calls) ? body.tool_calls : body.tool_call ? [body.tool_call] : []
      return calls
        .filter((c: any) => typeof c?.name === "string" && c.name.length > 0)
        .map((c: any) => LanguageModel.remoteToolCall({ id: String(c.tool_call_id ?? ""), name: c.name, arguments: String(c.arguments ?? "") }))
    }
    case "tool_return_message": {
      const returns = Array.isArray(body.tool_returns) && body.tool_returns.length > 0 ? body.tool_returns : [body]
      return returns.map((r: any) =>
        LanguageModel.remoteToolResult({
          toolCallId: String(r.tool_call_id ?? ""),
          toolName: String(r.name ?? body.name ?? ""),
          content: typeof r.tool_return === "string" ? r.tool_return : JSON.stringify(r.tool_return ?? null),
          isError: r.status === "error"
        })
      )
    }
    case "approval_request_message": {
      const calls = Array.isArray(body.tool_calls) ? body.tool_calls : body.tool_call ? [body.tool_call] : []
      for (const c of calls) {
        const id = String(c?.tool_call_id ?? "")
        const current = state.approvals.get(id) ?? { name: "", arguments: "" }
        if (typeof c?.name === "string" && c.name.length > 0) current.name = c.name
        if (typeof c?.arguments === "string") current.arguments = deltas ? current.arguments + c.arguments : c.arguments
        state.approvals.set(id, current)
      }
      return []
    }
    case "stop_reason":
      state.stopReason = String(body.stop_reason ?? "")
      return []
    case "usage_statistics":
      state.usage = Message.Usage.add(state.usage, ChatCompletions.toUsage(body))
      return []
    case "error_message":
      throw lettaError(String(body.message ?? body.error_type ?? "error"))
    case "ping":
      return []
    default:
      // reasoning, hidden reasoning, system/user echoes, approval responses, and types added later.
      return [LanguageModel.raw("letta", body)]
  }
}

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const base = Http.baseUrl(options.baseUrl, DEFAULT_BASE_URL)
  const url = `${base}/v1/agents/${encodeURIComponent(options.agentId)}/messages/stream`
  const deltas = options.streamTokens === true
  return Model.make((request) => {
    const ours = new Set(request.availableTools.map((t) => t.name))
    const http: Http.Request = {
      provider: "letta",
      method: "POST",
      url,
      // Letta stores the messages and runs its tools: once delivered, the request is never sent again.
      idempotent: false,
      headers: { Authorization: `Bearer ${Redacted.value(options.apiKey)}`, "Content-Type": "application/json", Accept: "text/event-stream" },
      body: {
        messages: requestMessages(request.messages),
        client_tools: request.availableTools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
        stream_tokens: deltas,
        include_pings: true,
        ...(options.maxSteps === undefined ? {} : { max_steps: options.maxSteps })
      },
      ...Http.clientOptions(options)
    }
    return Model.streamParts(http, {
      decoder: () => new Sse.Decoder(),
      initial: (): State => ({ usage: Message.Usage.empty, stopReason: undefined, done: false, approvals: new Map() }),
      item: (event, state) => {
        if (Sse.isDone(event)) {
          state.done = true
          return []
        }
        if (event.event === "error") throw lettaError(Http.errorMessage(event.data))
        let parsed: unknown
        try {
          parsed = JSON.parse(event.data)
        } catch {
          return [LanguageModel.raw("letta", { malformed: event.data })]
        }
        return messageParts(parsed, state, deltas)
      },
      // Letta ends with `stop_reason`, `usage_statistics`, `[DONE]`; the stop reason settles the step.
      complete: (state) => state.done || state.stopReason !== undefined,
      end: (state) => {
        const end: Array<LanguageModel.ResponsePart> = []
        for (const [id, call] of state.approvals) {
          const fields = { id, name: call.name, arguments: call.arguments }
          end.push(ours.has(call.name) ? LanguageModel.toolCall(fields) : LanguageModel.approvalRequest(fields))
        }
        const exchange: Exchange = { agentId: options.agentId, ...(state.stopReason === undefined ? {} : { stopReason: state.stopReason }) }
        end.push(LanguageModel.metadata({ letta: exchange }))
        end.push(LanguageModel.finish(state.approvals.size > 0 ? "tool_calls" : (stopReasons[state.stopReason ?? "end_turn"] ?? "other"), state.usage))
        return end
      }
    })
  })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** `layer` over the runtime's own `fetch` (see `Http.withFetch`): it needs no HttpClient. */
export const layerFetch = (options: Options): Layer.Layer<LanguageModel.LanguageModel> => Http.withFetch(layer(options))

/** An `AgentBackend` on a Letta agent: client tools, approvals (ours and Letta's) and tool rules. */
export const layerBackend = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, options: Options) =>
  AgentBackend.layerWith(agent, { name: "letta", capabilities }).pipe(Layer.provide(layer(options)))

/**
 * A Toolhouse worker as a `LanguageModel`. A new conversation `POST`s the latest user message to
 * `{base}/ndjson/{agentId}`; the answer's `X-Toolhouse-Run-ID` is kept in the assistant message's metadata,
 * and the next turn `PUT`s to `{base}/ndjson/{agentId}/{runId}`. Toolhouse runs every tool itself, so tool
 * calls and results in the stream are remote (observational), and the backend declares no client tools,
 * approvals or rules.
 *
 * The NDJSON line format is not documented: lines are mapped leniently (text, tool calls, tool results,
 * errors, usage), and every line that maps to none of these, malformed ones included, is kept as a raw part,
 * never dropped. A text mode reads the plain-text endpoints instead.
 *
 * @since 0.1.0
 */
import { AgentBackend, type Agent, LanguageModel, Message, type Tool } from "@agentloop/core"
import { ChatCompletions, Http, Model, Ndjson, type Retry } from "@agentloop/wire"
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Redacted, Stream } from "effect"

export interface Options {
  /** Absent for public workers. */
  readonly apiKey?: Redacted.Redacted<string>
  /** Default `https://agents.toolhouse.ai`. */
  readonly baseUrl?: string
  readonly agentId: string
  /** Values for the worker's `{var}` placeholders. */
  readonly vars?: Readonly<Record<string, string>>
  /** `ndjson` (default: text plus tool calls and results) or `text` (the worker's output only). */
  readonly mode?: "ndjson" | "text"
  readonly retry?: Retry.Options
}

export const capabilities: AgentBackend.Capabilities = { clientTools: false, approvals: false, toolRules: false, streaming: true }

export const RUN_ID_HEADER = "x-toolhouse-run-id"

/** The run this conversation continues, if an earlier answer came from Toolhouse. */
export const runIdOf = (messages: ReadonlyArray<Message.Message>): string | undefined => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    const runId = m._tag === "AssistantMessage" ? (m.metadata?.["toolhouse"] as { runId?: unknown } | undefined)?.runId : undefined
    if (typeof runId === "string") return runId
  }
  return undefined
}

/** The user's latest words: every user message since the last assistant message. */
export const latestUserText = (messages: ReadonlyArray<Message.Message>): string => {
  const texts: Array<string> = []
  for (let i = messages.length - 1; i >= 0 && messages[i]!._tag !== "AssistantMessage"; i--) {
    const m = messages[i]!
    if (m._tag === "UserMessage") texts.unshift(m.content)
  }
  return texts.join("\n\n")
}

const firstString = (...values: ReadonlyArray<unknown>): string | undefined => values.find((v): v is string => typeof v === "string")

/** One NDJSON line as parts. Unknown shapes become raw parts. */
export const lineParts = (line: Ndjson.Line, state: { usage: Message.Usage; calls: number }): Array<LanguageModel.ResponsePart> => {
  if (line._tag === "Malformed") return [LanguageModel.raw("toolhouse", { malformed: line.line, reason: line.reason })]
  const value = line.value
  if (typeof value === "string") return value.length === 0 ? [] : [LanguageModel.textDelta(value)]
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [LanguageModel.raw("toolhouse", value)]
  const v = value as Record<string, any>
  const kind = String(v["type"] ?? v["event"] ?? v["kind"] ?? "").toLowerCase()
  if (v["usage"] !== undefined) state.usage = Message.Usage.add(state.usage, ChatCompletions.toUsage(v["usage"]))
  switch (kind) {
    case "text":
    case "delta":
    case "content":
    case "token":
    case "chunk":
    case "output":
    case "message":
    case "assistant": {
      const text = firstString(v["text"], v["content"], v["delta"], v["data"], v["output"], v["message"])
      return text === undefined ? [LanguageModel.raw("toolhouse", v)] : text.length === 0 ? [] : [LanguageModel.textDelta(text)]
    }
    case "tool_call":
    case "tool_use":
    case "function_call": {
      const name = firstString(v["name"], v["tool"], v["tool_name"], v["function"]?.["name"]) ?? ""
      const input = v["input"] ?? v["arguments"] ?? v["args"] ?? v["function"]?.["arguments"] ?? {}
      return [
        LanguageModel.remoteToolCall({
          id: firstString(v["id"], v["tool_call_id"], v["tool_use_id"]) ?? `toolhouse_${++state.calls}`,
          name,
          arguments: typeof input === "string" ? input : JSON.stringify(input)
        })
      ]
    }
    case "tool_result":
    case "tool_response":
    case "tool_output": {
      const output = v["output"] ?? v["content"] ?? v["result"] ?? ""
      return [
        LanguageModel.remoteToolResult({
          toolCallId: firstString(v["tool_call_id"], v["tool_use_id"], v["id"]) ?? "",
          toolName: firstString(v["name"], v["tool"], v["tool_name"]) ?? "",
          content: typeof output === "string" ? output : JSON.stringify(output),
          isError: v["is_error"] === true || v["error"] !== undefined
        })
      ]
    }
    case "error":
      throw new LanguageModel.ModelError({ provider: "toolhouse", message: `toolhouse: ${firstString(v["message"], v["error"], v["detail"]) ?? "error"}`, retryable: false })
    case "end":
    case "done":
    case "finish":
      return []
    default:
      return [LanguageModel.raw("toolhouse", v)]
  }
}

const baseOf = (options: Options) => Http.baseUrl(options.baseUrl, "https://agents.toolhouse.ai")

/** Public workers need no key; with one, it is sent as a bearer token. */
const authorization = (options: Options): Record<string, string> =>
  options.apiKey === undefined ? {} : { Authorization: `Bearer ${Redacted.value(options.apiKey)}` }

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const base = baseOf(options)
  const agent = encodeURIComponent(options.agentId)
  const ndjson = (options.mode ?? "ndjson") === "ndjson"
  const headers = { "Content-Type": "application/json", ...authorization(options) }
  return Model.make((request) => {
    const runId = runIdOf(request.messages)
    const send = Http.send({
      provider: "toolhouse",
      method: runId === undefined ? "POST" : "PUT",
      url: `${base}${ndjson ? "/ndjson" : ""}/${agent}${runId === undefined ? "" : `/${encodeURIComponent(runId)}`}`,
      headers,
      body: { message: latestUserText(request.messages), ...(runId === undefined && options.vars !== undefined ? { vars: options.vars } : {}) },
      ...(options.retry === undefined ? {} : { retry: options.retry })
    })
    const initial = (response: Http.Response) => ({ usage: Message.Usage.empty, calls: 0, runId: response.headers[RUN_ID_HEADER] ?? runId })
    const end = (state: ReturnType<typeof initial>) => [
      LanguageModel.metadata({ toolhouse: { agentId: options.agentId, ...(state.runId === undefined ? {} : { runId: state.runId }) } }),
      LanguageModel.finish("stop", state.usage)
    ]
    return ndjson
      ? Model.streamParts(send, { provider: "toolhouse", decode: (body) => Ndjson.decodeBytes(body), initial, item: lineParts, end })
      : Model.streamParts(send, { provider: "toolhouse", decode: (body) => Stream.decodeText(body), initial, item: (text) => [LanguageModel.textDelta(text)], end })
  })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** An `AgentBackend` on a Toolhouse worker (its tools run on Toolhouse; the agent's toolkit must be empty). */
export const layerBackend = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, options: Options) =>
  AgentBackend.layerWith(agent, { name: "toolhouse", capabilities }).pipe(Layer.provide(layer(options)))

/** A run's stored conversation (`GET {base}/{agentId}/{runId}`), as Toolhouse returns it. */
export const history = (options: Options, runId: string): Effect.Effect<ReadonlyArray<unknown>, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Http.send({
    provider: "toolhouse",
    method: "GET",
    url: `${baseOf(options)}/${encodeURIComponent(options.agentId)}/${encodeURIComponent(runId)}`,
    headers: authorization(options)
  }).pipe(
    Effect.flatMap((r) => r.json),
    Effect.map((json) => (Array.isArray(json) ? json : []))
  )

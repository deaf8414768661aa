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
import { ChatCompletions, Http, Incremental, Model, Ndjson } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { Effect, Layer, Redacted, Stream } from "effect"

export interface Options extends Http.ClientOptions {
  /** Absent for public workers. */
  readonly apiKey?: Redacted.Redacted<string>
  /** Default `https://agents.toolhouse.ai`. */
  readonly baseUrl?: string
  readonly agentId: string
  /** Values for the worker's `{var}` placeholders. */
  readonly vars?: Readonly<Record<string, string>>
  /**
   * `ndjson` (default: `{base}/ndjson/{agentId}`, text plus tool calls and results) or `text` (the base
   * endpoint `{base}/{agentId}`: the worker's output only).
   */
  readonly mode?: "ndjson" | "text"
  /**
   * When an earlier Toolhouse answer in the conversation carried no `X-Toolhouse-Run-ID`: `fail` (default)
   * fails the step with a `ModelError`; `new-run` starts a new run, which does not know the earlier turns.
   */
  readonly onMissingRunId?: "fail" | "new-run"
}

export const capabilities: AgentBackend.Capabilities = { clientTools: false, approvals: false, toolRules: false, streaming: true }

export const RUN_ID_HEADER = "x-toolhouse-run-id"

/**
 * The run this conversation continues: `none` if no earlier answer came from Toolhouse, `missing` if the
 * latest one carried no run id.
 */
export const runOf = (messages: ReadonlyArray<Message.Message>): { readonly _tag: "none" } | { readonly _tag: "missing" } | { readonly _tag: "run"; readonly runId: string } => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    const toolhouse = m._tag === "AssistantMessage" ? (m.metadata?.["toolhouse"] as { runId?: unknown } | undefined) : undefined
    if (toolhouse === undefined) continue
    return typeof toolhouse.runId === "string" && toolhouse.runId.length > 0 ? { _tag: "run", runId: toolhouse.runId } : { _tag: "missing" }
  }
  return { _tag: "none" }
}

/** The run id this conversation continues, if there is one. */
export const runIdOf = (messages: ReadonlyArray<Message.Message>): string | undefined => {
  const run = runOf(messages)
  return run._tag === "run" ? run.runId : undefined
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
export const lineParts = (line: Ndjson.Line, state: { usage: Message.Usage; calls: number; cut?: boolean }): Array<LanguageModel.ResponsePart> => {
  if (line._tag === "Malformed") {
    // The stream ended inside a line: the answer was cut off.
    if (line.unterminated === true) state.cut = true
    return [LanguageModel.raw("toolhouse", { malformed: line.line, reason: line.reason })]
  }
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
      throw new LanguageModel.ModelError({
        provider: "toolhouse",
        message: `toolhouse: ${firstString(v["message"], v["error"], v["detail"]) ?? "error"}`,
        retryable: false,
        reason: "provider-error"
      })
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
    const run = runOf(request.messages)
    if (run._tag === "missing" && options.onMissingRunId !== "new-run") {
      return Stream.fail(
        new LanguageModel.ModelError({
          provider: "toolhouse",
          message: "toolhouse: the previous answer carried no X-Toolhouse-Run-ID, so this turn cannot continue its run (set onMissingRunId: \"new-run\" to start a new one)",
          retryable: false,
          reason: "provider-error"
        })
      )
    }
    const runId = run._tag === "run" ? run.runId : undefined
    const http: Http.Request = {
      provider: "toolhouse",
      method: runId === undefined ? "POST" : "PUT",
      url: `${base}${ndjson ? "/ndjson" : ""}/${agent}${runId === undefined ? "" : `/${encodeURIComponent(runId)}`}`,
      // Starting or continuing a run runs the worker's tools: once delivered, never sent again (PUT included).
      idempotent: false,
      headers,
      body: { message: latestUserText(request.messages), ...(runId === undefined && options.vars !== undefined ? { vars: options.vars } : {}) },
      ...Http.clientOptions(options)
    }
    const initial = (response: Http.Response) => ({ usage: Message.Usage.empty, calls: 0, cut: false, runId: response.headers[RUN_ID_HEADER] ?? runId })
    const end = (state: ReturnType<typeof initial>) => [
      LanguageModel.metadata({ toolhouse: { agentId: options.agentId, ...(state.runId === undefined ? {} : { runId: state.runId }) } }),
      LanguageModel.finish("stop", state.usage)
    ]
    // No documented end line: the HTTP framing ends the stream; a last line cut mid-JSON is a truncation.
    const complete = (state: ReturnType<typeof initial>) => !state.cut
    return ndjson
      ? Model.streamParts(http, { decoder: () => new Ndjson.Decoder(), initial, item: lineParts, complete, end })
      : Model.streamParts(http, { decoder: () => Incremental.text, initial, item: (text) => [LanguageModel.textDelta(text)], complete, end })
    // A hosted agent with no client-side tools and no response format: "auto" typed output asks in the instructions.
  }, { outputMode: "text" })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** `layer` over the runtime's own `fetch` (see `Http.withFetch`): it needs no HttpClient. */
export const layerFetch = (options: Options): Layer.Layer<LanguageModel.LanguageModel> => Http.withFetch(layer(options))

/** An `AgentBackend` on a Toolhouse worker (its tools run on Toolhouse; the agent's toolkit must be empty). */
export const layerBackend = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, options: Options) =>
  AgentBackend.layerWith(agent, { name: "toolhouse", capabilities }).pipe(Layer.provide(layer(options)))

/** A run's stored conversation (`GET {base}/{agentId}/{runId}`), as Toolhouse returns it. */
export const history = (options: Options, runId: string): Effect.Effect<ReadonlyArray<unknown>, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Http.json({
    provider: "toolhouse",
    method: "GET",
    url: `${baseOf(options)}/${encodeURIComponent(options.agentId)}/${encodeURIComponent(runId)}`,
    headers: authorization(options),
    ...Http.clientOptions(options)
  }).pipe(Effect.map((json) => (Array.isArray(json) ? json : [])))

/**
 * `POST /v1/agents/heroku`: Heroku's own agent loop, which runs `heroku_tool` and `mcp` tools on Heroku and
 * streams whole messages as SSE (`event:message` with `chat.completion` / `tool.completion` objects, then
 * `event:done`). As a `LanguageModel`, one request is one step whose tool calls are remote: the loop records
 * them, and the conversation continues by resending the history.
 *
 * Heroku runs tools while the request is open, so a request that may have been delivered is never sent
 * again, and a failed step is not retryable. A stream that ends before `event:done` is truncated.
 *
 * @since 0.1.0
 */
import { AgentBackend, type Agent, LanguageModel, Message, type Tool } from "@agentloop/core"
import { ChatCompletions, Http, Model, Sse } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { type Effect, Layer, type Redacted } from "effect"
import { authHeaders, normalizeUrl } from "./HerokuInference.js"

/** A tool Heroku runs: a built-in `heroku_tool` or a registered MCP tool. */
export interface HerokuTool {
  readonly type: "heroku_tool" | "mcp"
  /** e.g. `dyno_run_command`, `code_exec_python`, `pg_psql` (free strings: Heroku adds tools). */
  readonly name: string
  readonly description?: string
  readonly runtime_params?: {
    readonly target_app_name?: string
    readonly dyno_size?: string
    readonly ttl_seconds?: number
    readonly max_calls?: number
    readonly tool_params?: Readonly<Record<string, unknown>>
  }
}

export interface Options extends Http.ClientOptions {
  readonly url: string
  readonly key: Redacted.Redacted<string>
  readonly model: string
  readonly tools: ReadonlyArray<HerokuTool>
  readonly maxTokensPerInferenceRequest?: number
  readonly temperature?: number
  readonly topP?: number
  readonly stop?: ReadonlyArray<string>
}

export const capabilities: AgentBackend.Capabilities = { clientTools: false, approvals: false, toolRules: false, streaming: true }

/**
 * Heroku may report a tool under a namespaced name (`mcp-python/code_exec_python`) although it was
 * requested as `code_exec_python`: map it back to the requested name.
 */
export const requestedName = (name: string, requested: ReadonlyArray<string>): string => {
  if (requested.includes(name)) return name
  const slash = name.lastIndexOf("/")
  const short = slash === -1 ? name : name.slice(slash + 1)
  return requested.includes(short) ? short : name
}

/**
 * A `tool.completion`'s content: `Tool '<name>' returned result: <MCP CallToolResult JSON>` (or plain
 * text). Returns the result's text and whether the tool reported an error.
 */
export const toolResultText = (content: string): { readonly text: string; readonly isError: boolean } => {
  const match = /^Tool '.*?' returned result: ([\s\S]*)$/.exec(content)
  const payload = match === null ? content : match[1]!
  try {
    const parsed = JSON.parse(payload) as { content?: unknown; isError?: unknown }
    if (Array.isArray(parsed.content)) {
      return { text: ChatCompletions.contentText(parsed.content), isError: parsed.isError === true }
    }
  } catch {
    // plain text
  }
  return { text: payload, isError: false }
}

interface State {
  usage: Message.Usage
  finish: LanguageModel.FinishReason | undefined
  /** `event:done` / `data:[DONE]` arrived: the stream is complete. */
  done: boolean
}

const streamError = (message: string) =>
  new LanguageModel.ModelError({ provider: "heroku", message: `heroku agents stream error: ${message}`, retryable: false, reason: "provider-error" })

const eventParts = (event: Sse.SseEvent, requested: ReadonlyArray<string>, state: State) => {
  if (event.event === "done" || Sse.isDone(event)) {
    state.done = true
    return []
  }
  if (event.event === "error") throw streamError(Http.errorMessage(event.data))
  let body: any
  try {
    body = JSON.parse(event.data)
  } catch {
    return [LanguageModel.raw("heroku", { event: event.event, malformed: event.data })]
  }
  const error = ChatCompletions.errorOf(body)
  if (error !== undefined) throw streamError(error)
  if (event.event !== "message" || (body?.object !== "chat.completion" && body?.object !== "tool.completion")) {
    return [LanguageModel.raw("heroku", { event: event.event, data: body })]
  }
  const choice = body.choices?.[0] ?? {}
  const message = choice.message ?? {}
  const parts: Array<LanguageModel.ResponsePart> = []
  if (body.object === "tool.completion") {
    const result = toolResultText(ChatCompletions.contentText(message.content))
    parts.push(
      LanguageModel.remoteToolResult({
        toolCallId: String(message.tool_call_id ?? ""),
        toolName: requestedName(String(message.name ?? ""), requested),
        content: result.text,
        isError: result.isError
      })
    )
    return parts
  }
  const text = ChatCompletions.contentText(message.content)
  if (text.length > 0) parts.push(LanguageModel.textDelta(text))
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    parts.push(
      LanguageModel.remoteToolCall({
        id: String(call?.id ?? ""),
        name: requestedName(String(call?.function?.name ?? ""), requested),
        arguments: typeof call?.function?.arguments === "string" ? call.function.arguments : "{}"
      })
    )
  }
  state.usage = Message.Usage.add(state.usage, ChatCompletions.toUsage(body.usage))
  if (typeof choice.finish_reason === "string" && choice.finish_reason !== "" && choice.finish_reason !== "tool_calls") {
    state.finish = ChatCompletions.toFinishReason(choice.finish_reason)
  }
  return parts
}

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const requested = options.tools.map((t) => t.name)
  return Model.make((request) =>
    Model.streamParts(
      {
        provider: "heroku",
        method: "POST",
        url: `${normalizeUrl(options.url)}/v1/agents/heroku`,
        // Heroku runs tools while it answers: once delivered, the request is never sent again.
        idempotent: false,
        headers: { ...authHeaders(options.key), Accept: "text/event-stream" },
        body: {
          model: options.model,
          messages: ChatCompletions.toMessages(request.messages),
          ...(options.tools.length === 0 ? {} : { tools: options.tools }),
          ...(options.maxTokensPerInferenceRequest === undefined ? {} : { max_tokens_per_inference_request: options.maxTokensPerInferenceRequest }),
          ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
          ...(options.topP === undefined ? {} : { top_p: options.topP }),
          ...(options.stop === undefined ? {} : { stop: options.stop })
        },
        ...Http.clientOptions(options)
      },
      {
        decoder: () => new Sse.Decoder(),
        initial: (): State => ({ usage: Message.Usage.empty, finish: undefined, done: false }),
        item: (event, state) => eventParts(event, requested, state),
        complete: (state) => state.done,
        end: (state) => [LanguageModel.finish(state.finish ?? "stop", state.usage)]
      }
    ),
    // No response format on this endpoint and no client-side tools: "auto" typed output asks in the instructions.
    { outputMode: "text" }
  )
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** `layer` over the runtime's own `fetch` (see `Http.withFetch`): it needs no HttpClient. */
export const layerFetch = (options: Options): Layer.Layer<LanguageModel.LanguageModel> => Http.withFetch(layer(options))

/**
 * An `AgentBackend` on `/v1/agents/heroku`. The agent's own toolkit must be empty (Heroku runs the tools
 * given in `options.tools`); asking for client tools, approvals or tool rules fails before any request.
 */
export const layerBackend = <Tools extends Record<string, Tool.Any>>(agent: Agent.Agent<Tools>, options: Options) =>
  AgentBackend.layerWith(agent, { name: "heroku-agents", capabilities }).pipe(Layer.provide(layer(options)))

/**
 * A `LanguageModel` over an OpenAI-compatible `/v1/chat/completions` endpoint: Heroku Managed Inference, or
 * any other server that speaks the format. Streams deltas (or reads one completion when `stream: false`),
 * sends our tools as `function` tools and all four tool-choice forms.
 *
 * A completion has no side effect, so a failed request is retried (and a failed step is retryable). A
 * stream must end with `data: [DONE]`; an error object or `event: error` in the stream fails the step
 * with the provider's message.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import { ChatCompletions, Http, Model, Sse } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { type Effect, Layer, type Redacted } from "effect"
import { authHeaders, type Connection, normalizeUrl } from "./HerokuInference.js"

export interface Options extends Http.ClientOptions {
  /** The server's base URL (without `/v1/...`). */
  readonly url: string
  readonly key: Redacted.Redacted<string>
  readonly model: string
  /** Named in errors. Default `heroku`. */
  readonly provider?: string
  /** Default `/v1/chat/completions`. */
  readonly path?: string
  /** Stream deltas over SSE (default true). */
  readonly stream?: boolean
  /**
   * When streaming, ask for the usage chunk (`stream_options: { include_usage: true }`). Default true;
   * set false for servers that refuse `stream_options`.
   */
  readonly streamUsage?: boolean
  readonly temperature?: number
  readonly maxTokens?: number
  readonly topP?: number
  /** More body fields, sent as they are (e.g. `extended_thinking`). */
  readonly extraBody?: Readonly<Record<string, unknown>>
}

const providerError = (provider: string, message: string) =>
  new LanguageModel.ModelError({ provider, message: `${provider} stream error: ${message}`, retryable: false, reason: "provider-error" })

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const provider = options.provider ?? "heroku"
  const url = `${normalizeUrl(options.url)}${options.path ?? "/v1/chat/completions"}`
  const streaming = options.stream ?? true
  const streamOptions = streaming && options.streamUsage !== false ? { stream_options: { include_usage: true } } : {}
  return Model.make((request) => {
    const offersTools = request.tools.length > 0 && request.toolChoice !== "none"
    const http: Http.Request = {
      provider,
      method: "POST",
      url,
      // A completion changes nothing on the server: sending it twice is safe.
      idempotent: true,
      headers: { ...authHeaders(options.key), Accept: streaming ? "text/event-stream" : "application/json" },
      body: {
        model: options.model,
        messages: ChatCompletions.toMessages(request.messages),
        ...(offersTools ? { tools: ChatCompletions.toTools(request.tools), tool_choice: ChatCompletions.toToolChoice(request.toolChoice) } : {}),
        ...(request.responseFormat === undefined ? {} : { response_format: ChatCompletions.toResponseFormat(request.responseFormat) }),
        stream: streaming,
        ...streamOptions,
        ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
        ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
        ...(options.topP === undefined ? {} : { top_p: options.topP }),
        ...options.extraBody
      },
      ...Http.clientOptions(options)
    }
    if (!streaming) {
      return Model.jsonParts(http, (json) => {
        const error = ChatCompletions.errorOf(json)
        if (error !== undefined) throw providerError(provider, error)
        return ChatCompletions.fromCompletion(json)
      })
    }
    return Model.streamParts(http, {
      decoder: () => new Sse.Decoder(),
      initial: () => ({ accumulator: new ChatCompletions.ChunkAccumulator(), done: false }),
      item: (event, state) => {
        if (Sse.isDone(event)) {
          state.done = true
          return []
        }
        if (event.event === "error") throw providerError(provider, Http.errorMessage(event.data))
        if (event.event !== "message") return []
        let chunk: unknown
        try {
          chunk = JSON.parse(event.data)
        } catch {
          return [LanguageModel.raw(provider, { malformed: event.data })]
        }
        const error = ChatCompletions.errorOf(chunk)
        if (error !== undefined) throw providerError(provider, error)
        return state.accumulator.push(chunk)
      },
      complete: (state) => state.done,
      end: (state) => state.accumulator.end()
    })
    // Chat completions take a JSON-schema response format: "auto" typed output uses it.
  }, { outputMode: "response_format" })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** `layer` over the runtime's own `fetch` (see `Http.withFetch`): it needs no HttpClient. */
export const layerFetch = (options: Options): Layer.Layer<LanguageModel.LanguageModel> => Http.withFetch(layer(options))

/** Heroku Managed Inference's chat completions, from a connection (e.g. `HerokuInference.fromEnv`). */
export const layerHeroku = (
  connection: Connection,
  options: Omit<Options, "url" | "key" | "model"> = {}
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> => layer({ ...connection, ...options })

/**
 * A `LanguageModel` over an OpenAI-compatible `/v1/chat/completions` endpoint: Heroku Managed Inference, or
 * any other server that speaks the format. Streams deltas (or reads one completion when `stream: false`),
 * sends our tools as `function` tools and all four tool-choice forms.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import { ChatCompletions, Http, Model, type Retry, Sse } from "@agentloop/wire"
import type { HttpClient } from "@effect/platform"
import { type Effect, Layer, type Redacted } from "effect"
import { authHeaders, type Connection, normalizeUrl } from "./HerokuInference.js"

export interface Options {
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
  readonly temperature?: number
  readonly maxTokens?: number
  readonly topP?: number
  /** More body fields, sent as they are (e.g. `extended_thinking`). */
  readonly extraBody?: Readonly<Record<string, unknown>>
  readonly retry?: Retry.Options
}

export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const provider = options.provider ?? "heroku"
  const url = `${normalizeUrl(options.url)}${options.path ?? "/v1/chat/completions"}`
  const streaming = options.stream ?? true
  return Model.make((request) => {
    const offersTools = request.tools.length > 0 && request.toolChoice !== "none"
    const send = Http.send({
      provider,
      method: "POST",
      url,
      headers: { ...authHeaders(options.key), Accept: streaming ? "text/event-stream" : "application/json" },
      body: {
        model: options.model,
        messages: ChatCompletions.toMessages(request.messages),
        ...(offersTools ? { tools: ChatCompletions.toTools(request.tools), tool_choice: ChatCompletions.toToolChoice(request.toolChoice) } : {}),
        ...(request.responseFormat === undefined ? {} : { response_format: ChatCompletions.toResponseFormat(request.responseFormat) }),
        stream: streaming,
        ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
        ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
        ...(options.topP === undefined ? {} : { top_p: options.topP }),
        ...options.extraBody
      },
      ...(options.retry === undefined ? {} : { retry: options.retry })
    })
    if (!streaming) return Model.jsonParts(send, provider, ChatCompletions.fromCompletion)
    return Model.streamParts(send, {
      provider,
      decode: (body) => Sse.decodeBytes(body),
      initial: () => new ChatCompletions.ChunkAccumulator(),
      item: (event, accumulator) => {
        if (Sse.isDone(event) || event.event !== "message") return []
        let chunk: unknown
        try {
          chunk = JSON.parse(event.data)
        } catch {
          return [LanguageModel.raw(provider, { malformed: event.data })]
        }
        return accumulator.push(chunk)
      },
      end: (accumulator) => accumulator.end()
    })
  })
}

export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/** Heroku Managed Inference's chat completions, from a connection (e.g. `HerokuInference.fromEnv`). */
export const layerHeroku = (
  connection: Connection,
  options: Omit<Options, "url" | "key" | "model"> = {}
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> => layer({ ...connection, ...options })

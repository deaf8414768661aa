/**
 * The shape every HTTP-backed `LanguageModel` shares: the HttpClient is captured when the layer is built,
 * and a step's parts come from decoding the response body item by item (a mapper that may fail with
 * `ModelError`), followed by the parts only the end of the stream settles (finish, usage, metadata).
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import type { HttpClient } from "@effect/platform"
import { Chunk, Effect, Stream } from "effect"
import type * as Http from "./Http.js"

/** A `LanguageModel` whose steps use the `HttpClient` in context when the model is made. */
export const make = (
  streamStep: (request: LanguageModel.ModelRequest) => Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient>
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.context<HttpClient.HttpClient>(), (context) => ({
    streamStep: (request) => Stream.provideContext(streamStep(request), context)
  }))

/** Anything thrown while mapping a provider's item becomes that provider's `ModelError`. */
export const toModelError =
  (provider: string) =>
  (error: unknown): LanguageModel.ModelError =>
    error instanceof LanguageModel.ModelError ? error : new LanguageModel.ModelError({ provider, message: String(error), retryable: false })

export interface StreamOptions<Item, State> {
  readonly provider: string
  /** Turns the body's bytes into items (SSE events, NDJSON lines, text). */
  readonly decode: (body: Stream.Stream<Uint8Array, LanguageModel.ModelError>) => Stream.Stream<Item, LanguageModel.ModelError>
  /** Fresh per response: what the end of the stream needs to know. */
  readonly initial: (response: Http.Response) => State
  /** One item's parts; may throw a `ModelError` (e.g. an error event). */
  readonly item: (item: Item, state: State) => ReadonlyArray<LanguageModel.ResponsePart>
  readonly end: (state: State) => ReadonlyArray<LanguageModel.ResponsePart>
}

/** The parts of a streamed response. */
export const streamParts = <Item, State>(
  send: Effect.Effect<Http.Response, LanguageModel.ModelError, HttpClient.HttpClient>,
  options: StreamOptions<Item, State>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Stream.unwrap(
    Effect.map(send, (response) =>
      Stream.suspend(() => {
        const state = options.initial(response)
        let failure: LanguageModel.ModelError | undefined
        return options.decode(response.stream).pipe(
          // Once an item failed, stop reading the body.
          Stream.takeWhile(() => failure === undefined),
          // Items are mapped chunk by chunk (a stream carries thousands of events); the parts produced
          // before a failing item are still emitted, then the step fails with that item's error.
          Stream.mapChunks((chunk) => {
            const parts: Array<LanguageModel.ResponsePart> = []
            for (const item of chunk) {
              try {
                for (const part of options.item(item, state)) parts.push(part)
              } catch (error) {
                failure = toModelError(options.provider)(error)
                break
              }
            }
            return Chunk.unsafeFromArray(parts)
          }),
          Stream.concat(Stream.suspend(() => (failure === undefined ? Stream.fromIterable(options.end(state)) : Stream.fail(failure))))
        )
      })
    )
  )

/** The parts of a whole JSON response. */
export const jsonParts = (
  send: Effect.Effect<Http.Response, LanguageModel.ModelError, HttpClient.HttpClient>,
  provider: string,
  parts: (json: unknown) => ReadonlyArray<LanguageModel.ResponsePart>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Stream.unwrap(
    Effect.flatMap(Effect.flatMap(send, (r) => r.json), (json) =>
      Effect.map(Effect.try({ try: () => parts(json), catch: toModelError(provider) }), Stream.fromIterable)
    )
  )

/**
 * The shape every HTTP-backed `LanguageModel` shares: the HttpClient is captured when the layer is built,
 * and a step's parts come from decoding the response body item by item (a mapper that may fail with
 * `ModelError`), followed by the parts only the end of the stream settles (finish, usage, metadata).
 *
 * A stream that ends before the provider's end marker is a `truncated` `ModelError`, never a completed
 * step; every failure after the body started carries the parts received so far, and is retryable only if
 * the request was idempotent and no remote tool call was seen (a resume must not run a remote tool twice).
 * The whole step is bounded by the step timeout.
 *
 * The body's bytes become items and the items parts where the consumer takes the body's reads
 * (`Http.Response.readUntil`): no stream stage of their own, one chunk of parts per batch of reads. The
 * step and idle timeouts share one watchdog for the whole body.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import { Cause, Clock, Duration, Effect, Exit, Stream } from "effect"
import type { HttpClient } from "effect/http"
import * as Http from "./Http.js"
import * as Incremental from "./Incremental.js"
import * as Timeout from "./Timeout.js"

/** A `LanguageModel` whose steps use the `HttpClient` in context when the model is made. */
export const make = (
  streamStep: (request: LanguageModel.ModelRequest) => Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient>,
  /** Declared capabilities (e.g. `outputMode`, how the model best returns a typed output). */
  capabilities?: Pick<LanguageModel.Service, "outputMode">
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.context<HttpClient.HttpClient>(), (context) => ({
    streamStep: (request) => Stream.provideContext(streamStep(request), context),
    ...(capabilities?.outputMode === undefined ? {} : { outputMode: capabilities.outputMode })
  }))

export interface StreamOptions<Item, State> {
  /**
   * A fresh decoder per response, from the body's text to items: `() => new Sse.Decoder()`, `() => new
   * Ndjson.Decoder()`, or `() => Incremental.text` for the text itself. The body's UTF-8 is decoded as
   * `Incremental.utf8` does (a sequence split across reads reassembled, one cut by the end U+FFFD).
   */
  readonly decoder: () => Incremental.Decoder<Item>
  /** Fresh per response: what the end of the stream needs to know. */
  readonly initial: (response: Http.Response) => State
  /** One item's parts; may throw a `ModelError` (e.g. an error event). */
  readonly item: (item: Item, state: State) => ReadonlyArray<LanguageModel.ResponsePart>
  /** Whether the provider's end marker was seen: a stream that ends without it is truncated. */
  readonly complete: (state: State) => boolean
  readonly end: (state: State) => ReadonlyArray<LanguageModel.ResponsePart>
}

/** An error thrown by an item mapper: a provider's in-stream error, or a bug (kept as the message). */
const itemError = (provider: string, error: unknown): LanguageModel.ModelError =>
  error instanceof LanguageModel.ModelError
    ? error
    : new LanguageModel.ModelError({ provider, message: String(error), retryable: false, reason: "provider-error" })

/** The error as the step reports it: with what was received, and not retryable once a remote tool was seen. */
const afterBodyStarted = (error: LanguageModel.ModelError, received: ReadonlyArray<LanguageModel.ResponsePart>, remoteSeen: boolean) =>
  LanguageModel.modelErrorWith(error, { retryable: error.retryable && !remoteSeen, ...(received.length === 0 ? {} : { received }) })

/** The parts of a streamed response. */
export const streamParts = <Item, State>(
  request: Http.Request,
  options: StreamOptions<Item, State>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> => {
  // One deadline for the whole step: the sending (retries included) races it once, and the body's reader
  // is bounded by it with the idle timeout's watchdog, rather than a `Stream.interruptWhen` on every read.
  const step = Timeout.resolve(request.timeouts).step
  const timedOut = () => Http.stepTimeout(request, step)
  // A provider's in-stream error may quote the credentials too (an item mapper builds it from the body).
  const redact = Http.redactFor(request)
  return Stream.unwrap(
    Effect.flatMap(Clock.currentTimeMillis, (start) =>
      Effect.map(Effect.timeoutOrElse(Http.send(request), { duration: step, orElse: () => Effect.fail(timedOut()) }), (response) =>
        response.readUntil(start + Duration.toMillis(step), timedOut, partsReader(request, response, options))
      )
    )
  ).pipe(Stream.mapError(redact))
}

/**
 * Reads to parts, where the consumer takes them: a batch of reads becomes one chunk of parts; an item that
 * throws ends the step with its error after the parts before it; the end of the body settles the step.
 */
const partsReader = <Item, State>(request: Http.Request, response: Http.Response, options: StreamOptions<Item, State>): Http.BodyReader<LanguageModel.ResponsePart> => {
  const decoder = Incremental.utf8(options.decoder())
  const state = options.initial(response)
  // Every part so far: an error after the body started carries them.
  const received: Array<LanguageModel.ResponsePart> = []
  let remoteSeen = false
  /** Maps the items onto `out` (and `received`), indexed (no iterator per item); may throw (the item mapper's error). */
  const take = (items: ReadonlyArray<Item>, out: Array<LanguageModel.ResponsePart>) => {
    for (let i = 0; i < items.length; i++) {
      const parts = options.item(items[i]!, state)
      for (let j = 0; j < parts.length; j++) {
        const part = parts[j]!
        if (part._tag === "RemoteToolCall" || part._tag === "RemoteToolResult") remoteSeen = true
        received.push(part)
        out.push(part)
      }
    }
  }
  /** The parts before an item threw, then its error. */
  const failed = (out: ReadonlyArray<LanguageModel.ResponsePart>, error: unknown): Http.BodyEnding<LanguageModel.ResponsePart> => ({
    items: out,
    exit: Exit.fail(afterBodyStarted(itemError(request.provider, error), received, remoteSeen))
  })
  return {
    onBatch: (reads) => {
      const out: Array<LanguageModel.ResponsePart> = []
      try {
        for (let r = 0; r < reads.length; r++) take(decoder.push(reads[r]!), out)
      } catch (error) {
        return failed(out, error)
      }
      return out
    },
    onFailure: (cause) => ({
      items: [],
      exit: Exit.failCause(Cause.map(cause, (error) => (error.received === undefined ? afterBodyStarted(error, received, remoteSeen) : error)))
    }),
    onDone: () => {
      const out: Array<LanguageModel.ResponsePart> = []
      try {
        take(decoder.end(), out)
      } catch (error) {
        return failed(out, error)
      }
      if (!options.complete(state)) {
        const truncated = Http.modelError(
          request.provider,
          `${request.provider}: the stream ended before its end marker (${received.length} part(s) received)`,
          Http.isIdempotent(request),
          { status: response.status, reason: "truncated" }
        )
        return { items: out, exit: Exit.fail(afterBodyStarted(truncated, received, remoteSeen)) }
      }
      for (const part of options.end(state)) {
        received.push(part)
        out.push(part)
      }
      return { items: out, exit: Exit.void }
    }
  }
}

/** The parts of a whole JSON response. */
export const jsonParts = (
  request: Http.Request,
  parts: (json: unknown) => ReadonlyArray<LanguageModel.ResponsePart>
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Stream.unwrap(
    Effect.flatMap(Http.json(request), (json) =>
      Effect.map(
        Effect.try({ try: () => parts(json), catch: (error) => Http.redactFor(request)(itemError(request.provider, error)) }),
        Stream.fromIterable
      )
    )
  )

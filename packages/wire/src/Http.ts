/**
 * Sending a request to a hosted API: retried while the answer is transient (before any of the body is
 * read), errors turned into `ModelError` with the provider's own message, and the body exposed as a stream
 * whose failure mid-way (a dropped connection) is a retryable `ModelError` too. Secrets passed in headers
 * never appear in an error.
 *
 * @since 0.1.0
 */
import { LanguageModel } from "@agentloop/core"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Effect, Stream } from "effect"
import * as Retry from "./Retry.js"

export interface Request {
  /** Named in errors, e.g. `heroku`, `letta`. */
  readonly provider: string
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: unknown
  readonly retry?: Retry.Options
}

export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The body as bytes; a dropped connection fails it with a retryable `ModelError`. */
  readonly stream: Stream.Stream<Uint8Array, LanguageModel.ModelError>
  readonly text: Effect.Effect<string, LanguageModel.ModelError>
  readonly json: Effect.Effect<unknown, LanguageModel.ModelError>
}

/** A service's base URL: the configured one, or the default, without trailing slashes. */
export const baseUrl = (configured: string | undefined, fallback: string): string => (configured ?? fallback).replace(/\/+$/, "")

/** The most useful message in an error body: `message`, `error.message`, `error`, `detail`, or the text. */
export const errorMessage = (text: string): string => {
  try {
    const body = JSON.parse(text) as any
    const candidates = [
      body?.message,
      body?.error?.message,
      typeof body?.error === "string" ? body.error : undefined,
      typeof body?.detail === "string" ? body.detail : undefined,
      body?.detail?.message,
      Array.isArray(body?.detail) ? body.detail.map((d: any) => `${(d?.loc ?? []).join(".")}: ${d?.msg ?? JSON.stringify(d)}`).join("; ") : undefined
    ]
    const found = candidates.find((c) => typeof c === "string" && c.length > 0)
    if (found !== undefined) return found
  } catch {
    // not JSON: use the text
  }
  const trimmed = text.trim()
  return trimmed.length === 0 ? "(empty body)" : trimmed.slice(0, 500)
}

const modelError = (provider: string, message: string, retryable: boolean, extra: { status?: number; cause?: unknown } = {}) =>
  new LanguageModel.ModelError({ provider, message, retryable, ...extra })

/** Sends once; a non-2xx answer is a `ModelError` carrying the status and the provider's message. */
const sendOnce = (request: Request): Effect.Effect<Response, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    let httpRequest = HttpClientRequest.make(request.method)(request.url).pipe(HttpClientRequest.setHeaders(request.headers ?? {}))
    if (request.body !== undefined) httpRequest = HttpClientRequest.bodyUnsafeJson(httpRequest, request.body)
    const response: HttpClientResponse.HttpClientResponse = yield* http.execute(httpRequest).pipe(
      Effect.mapError((error) => modelError(request.provider, `${request.provider}: ${request.method} failed before a response: ${error.message}`, true, { cause: error }))
    )
    const midStream = (error: { readonly message: string }) =>
      modelError(request.provider, `${request.provider}: the connection was lost while reading the response: ${error.message}`, true, {
        status: response.status
      })
    const text = Effect.mapError(response.text, midStream)
    if (response.status >= 300) {
      const body = yield* Effect.orElseSucceed(text, () => "")
      return yield* Effect.fail(
        modelError(request.provider, `${request.provider} answered ${response.status}: ${errorMessage(body)}`, Retry.isRetryableStatus(response.status), {
          status: response.status
        })
      )
    }
    return {
      status: response.status,
      headers: response.headers,
      stream: Stream.mapError(response.stream, midStream),
      text,
      json: Effect.flatMap(text, (body) =>
        Effect.try({
          try: () => (body.length === 0 ? undefined : JSON.parse(body)),
          catch: () => modelError(request.provider, `${request.provider}: the response is not JSON: ${body.slice(0, 200)}`, false, { status: response.status })
        })
      )
    } satisfies Response
  })

/** Sends, retrying transient failures (429, 5xx, connection errors) with the shared policy. */
export const send = (request: Request): Effect.Effect<Response, LanguageModel.ModelError, HttpClient.HttpClient> =>
  Retry.retryTransient(request.retry)(sendOnce(request))

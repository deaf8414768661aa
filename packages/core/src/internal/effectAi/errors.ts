/**
 * effect/ai `AiError` <-> agentloop `ModelError` (see `EffectAi` for the table).
 *
 * @internal
 */
import { Duration } from "effect"
import * as AiError from "effect/ai/AiError"
import { ModelError, type ModelErrorReason, type ResponsePart } from "../../LanguageModel.js"

/**
 * Provider text with what could carry a credential taken out: URL query strings (`?key=...`), the value of a
 * `Bearer`/`Basic` authorization, `sk-`-style keys. Provider messages sometimes quote what they were sent.
 */
export const scrub = (text: string): string =>
  text
    .replace(/(https?:\/\/[^\s?#"'<>]+)[?#][^\s"'<>]*/g, "$1?<redacted>")
    .replace(/\b(Bearer|Basic|Token)\s+[^\s"',;]+/gi, "$1 <redacted>")
    .replace(/\b(sk|pk|rk|api|key)[-_][A-Za-z0-9_-]{12,}/g, "<redacted>")

/** The HTTP status a reason carries, if any. */
const statusOf = (reason: AiError.AiErrorReason): number | undefined => {
  const http = (reason as { readonly http?: { readonly response?: { readonly status?: number } } }).http
  return http?.response?.status
}

const withDescription = (head: string, description: string | undefined): string =>
  description === undefined || description.length === 0 ? head : `${head}: ${scrub(description)}`

/**
 * What a reason says, built from its fields and never from its HTTP context (headers, body, URL query): an
 * authentication error says only its kind, since providers quote (masked) keys in those descriptions.
 */
export const describeReason = (reason: AiError.AiErrorReason): string => {
  switch (reason._tag) {
    case "RateLimitError":
      return reason.retryAfter === undefined ? "rate limit exceeded" : `rate limit exceeded (retry after ${Duration.format(reason.retryAfter)})`
    case "QuotaExhaustedError":
      return "quota exhausted"
    case "AuthenticationError":
      return `authentication failed (${reason.kind})`
    case "ContentPolicyError":
      return withDescription("content policy violation", reason.description)
    case "InvalidRequestError": {
      const parameter = reason.parameter === undefined ? "" : ` (parameter ${reason.parameter}${reason.constraint === undefined ? "" : ` ${reason.constraint}`})`
      return withDescription(`invalid request${parameter}`, reason.description)
    }
    case "InternalProviderError":
      return withDescription("provider error", reason.description)
    case "NetworkError":
      return withDescription(`network error (${reason.reason}, ${reason.method} ${scrub(reason.url)})`, reason.description)
    case "UnknownError":
      return withDescription("unknown error", reason.description)
    default:
      return scrub(reason.message)
  }
}

/** Which agentloop reason an effect/ai reason is. */
const modelReason = (reason: AiError.AiErrorReason): ModelErrorReason =>
  reason._tag === "NetworkError" ? "transport" : statusOf(reason) !== undefined ? "status" : "provider-error"

/**
 * An effect/ai failure as a `ModelError`: `retryable` is the reason's `isRetryable`, the message is built from
 * the reason's fields (`describeReason`), and `cause` is a plain summary (`module`, `method`, `reason`, `status`,
 * `retryAfterMillis`), never the AiError itself (its HTTP context may hold what the request sent).
 */
export const toModelError = (error: unknown, provider: string, received?: ReadonlyArray<ResponsePart>): ModelError => {
  const extra = received === undefined || received.length === 0 ? {} : { received }
  if (!AiError.isAiError(error)) {
    const message = error instanceof Error ? error.message : typeof error === "string" ? error : "unexpected failure"
    return new ModelError({ provider, message: `${provider}: ${scrub(message)}`, retryable: false, reason: "provider-error", ...extra })
  }
  const reason = error.reason
  const status = statusOf(reason)
  const retryAfter = error.retryAfter
  return new ModelError({
    provider,
    message: `${provider}: ${error.module}.${error.method}: ${describeReason(reason)}`,
    retryable: reason.isRetryable,
    reason: modelReason(reason),
    ...(status === undefined ? {} : { status }),
    cause: {
      module: error.module,
      method: error.method,
      reason: reason._tag,
      ...(status === undefined ? {} : { status }),
      ...(retryAfter === undefined ? {} : { retryAfterMillis: Duration.toMillis(retryAfter) })
    },
    ...extra
  })
}

/** An error part inside an effect/ai stream (the provider reported a failure mid-answer). */
export const errorPartToModelError = (error: unknown, provider: string, received: ReadonlyArray<ResponsePart>): ModelError => {
  const detail =
    typeof error === "string"
      ? error
      : typeof (error as { readonly message?: unknown } | null)?.message === "string"
        ? (error as { readonly message: string }).message
        : (JSON.stringify(error) ?? "").slice(0, 500)
  return new ModelError({
    provider,
    message: `${provider}: the provider reported an error in the stream: ${scrub(detail)}`,
    retryable: false,
    reason: "provider-error",
    ...(received.length === 0 ? {} : { received })
  })
}

/**
 * A `ModelError` as an effect/ai `AiError`. An HTTP status picks effect/ai's class for it
 * (`AiError.reasonFromHttpStatus`: 400 invalid request, 401/403 authentication, 429 rate limit, 5xx provider
 * error); otherwise `retryable` picks a retryable reason (`NetworkError` for transport and timeouts,
 * `InternalProviderError` for the rest) or a final one (`UnknownError`, `InvalidResponseError` for a cut-off stream).
 */
export const toAiError = (error: ModelError, method: string): AiError.AiError => {
  const description = error.message
  const reason: AiError.AiErrorReason =
    error.status !== undefined && (error.reason === "status" || error.reason === undefined)
      ? AiError.reasonFromHttpStatus({ status: error.status, description })
      : error.reason === "transport" || error.reason === "headers-timeout" || error.reason === "idle-timeout" || error.reason === "step-timeout"
        ? error.retryable
          ? new AiError.NetworkError({ reason: "TransportError", method: "POST", url: `agentloop://${error.provider ?? "model"}`, description })
          : new AiError.UnknownError({ description })
        : error.reason === "truncated"
          ? error.retryable
            ? new AiError.InternalProviderError({ description })
            : new AiError.InvalidResponseError({ description })
          : error.retryable
            ? new AiError.InternalProviderError({ description })
            : new AiError.UnknownError({ description })
  return AiError.make({ module: "agentloop", method, reason })
}

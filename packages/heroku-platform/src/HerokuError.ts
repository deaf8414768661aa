/**
 * Typed errors for the Heroku Platform API, built from its `{ id, message, url }` error body.
 * None of them carries the token or the request headers.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Redaction from "./Redaction.js"

export interface ApiErrorFields {
  readonly status: number
  /** Heroku's machine-readable id, e.g. `forbidden`, `rate_limit`, `invalid_params`. */
  readonly id: string
  /** Heroku's human-readable message. */
  readonly message: string
  readonly url?: string
  readonly requestId?: string
  readonly method: string
  readonly path: string
  /** `Retry-After` in milliseconds, when the answer carried one (429, 503). */
  readonly retryAfterMs?: number
}

/** The fields of every error built from an HTTP answer (`ApiErrorFields`), as a Schema. */
const apiErrorFields = {
  status: Schema.Number,
  id: Schema.String,
  message: Schema.String,
  url: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String),
  method: Schema.String,
  path: Schema.String,
  retryAfterMs: Schema.optional(Schema.Number)
}

// One class per error, not a generic helper: a helper's type parameter leaks into the emitted .d.ts as an
// unresolved `_tag: Tag` (caught by scripts/consumer-check.mjs).

/** 401: the token is missing, invalid or expired. */
export class HerokuUnauthorized extends Schema.TaggedError<HerokuUnauthorized>()("HerokuUnauthorized", apiErrorFields) {}
/** 403: the token's scope (or the account) does not reach this resource. */
export class HerokuForbidden extends Schema.TaggedError<HerokuForbidden>()("HerokuForbidden", apiErrorFields) {}
/** 404: no such resource, or the token cannot see it. */
export class HerokuNotFound extends Schema.TaggedError<HerokuNotFound>()("HerokuNotFound", apiErrorFields) {}
/** 422: the parameters were invalid (read `message`). */
export class HerokuInvalidParams extends Schema.TaggedError<HerokuInvalidParams>()("HerokuInvalidParams", apiErrorFields) {}
/** 429: the account's request pool stayed empty after the client waited for it to refill. */
export class HerokuRateLimited extends Schema.TaggedError<HerokuRateLimited>()("HerokuRateLimited", apiErrorFields) {}
/** 503: still unavailable after the client's retries. */
export class HerokuUnavailable extends Schema.TaggedError<HerokuUnavailable>()("HerokuUnavailable", apiErrorFields) {}
/** Any other non-2xx answer (400, 402, 406, 409, 410, 416, 5xx ...). */
export class HerokuApiError extends Schema.TaggedError<HerokuApiError>()("HerokuApiError", apiErrorFields) {}

/** The request never got an HTTP answer (connection refused or dropped, timeout). */
export class HerokuTransportError extends Schema.TaggedError<HerokuTransportError>()("HerokuTransportError", {
  method: Schema.String,
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.method} ${this.path} failed before a response: ${this.reason}`
  }
}

/** A 2xx answer whose body is not what the endpoint documents. */
export class HerokuInvalidResponse extends Schema.TaggedError<HerokuInvalidResponse>()("HerokuInvalidResponse", {
  method: Schema.String,
  path: Schema.String,
  reason: Schema.String,
  requestId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.method} ${this.path} returned an unexpected body: ${this.reason}`
  }
}

/** The request path does not match the operation's template (a path parameter tried to escape its segment). */
export class HerokuInvalidPath extends Schema.TaggedError<HerokuInvalidPath>()("HerokuInvalidPath", {
  method: Schema.String,
  path: Schema.String,
  template: Schema.UndefinedOr(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.method} ${this.path} was not sent: ${this.reason}`
  }
}

/** A list answered in a way that cannot be paged safely: a 206 without `Next-Range`, or a `Next-Range` cycle. */
export class HerokuPagingError extends Schema.TaggedError<HerokuPagingError>()("HerokuPagingError", {
  path: Schema.String,
  reason: Schema.String,
  requestId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `GET ${this.path} could not be paged: ${this.reason}`
  }
}

export type HerokuError =
  | HerokuUnauthorized
  | HerokuForbidden
  | HerokuNotFound
  | HerokuInvalidParams
  | HerokuRateLimited
  | HerokuUnavailable
  | HerokuApiError
  | HerokuTransportError
  | HerokuInvalidResponse
  | HerokuInvalidPath
  | HerokuPagingError

/**
 * The typed error for a non-2xx status and its (possibly malformed) body. Heroku's message is kept (it is
 * what a human needs) with secret-shaped strings scrubbed; a body that is not a Heroku error is never copied.
 */
export const fromResponse = (
  status: number,
  body: unknown,
  context: { readonly method: string; readonly path: string; readonly requestId: string | undefined; readonly retryAfterMs?: number | undefined }
): HerokuError => {
  const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}
  const fields: ApiErrorFields = {
    status,
    id: typeof record["id"] === "string" ? record["id"].slice(0, 100) : `http_${status}`,
    message: typeof record["message"] === "string" ? Redaction.text(record["message"].slice(0, 1000)) : `HTTP ${status}`,
    ...(typeof record["url"] === "string" ? { url: Redaction.text(record["url"]) } : {}),
    ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
    ...(context.retryAfterMs === undefined ? {} : { retryAfterMs: context.retryAfterMs }),
    method: context.method,
    path: context.path
  }
  switch (status) {
    case 401:
      return new HerokuUnauthorized(fields)
    case 403:
      return new HerokuForbidden(fields)
    case 404:
      return new HerokuNotFound(fields)
    case 422:
      return new HerokuInvalidParams(fields)
    case 429:
      return new HerokuRateLimited(fields)
    case 503:
      return new HerokuUnavailable(fields)
    default:
      return new HerokuApiError(fields)
  }
}

/**
 * App webhooks: verify `Heroku-Webhook-Hmac-SHA256` (base64 HMAC-SHA256 of the raw body, compared in
 * constant time), decode the delivery envelope, and expose verified events as a `Stream`.
 *
 * @since 0.1.0
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Data, Effect, ParseResult, Queue, Redacted, Schema, type Scope, Stream } from "effect"
import { lenient } from "./Resources.js"

export const SIGNATURE_HEADER = "heroku-webhook-hmac-sha256"

/** The delivery envelope. `data` is the resource as the API returns it; unknown fields are kept. */
export const WebhookEvent = lenient({
  id: Schema.String,
  action: Schema.String,
  /** e.g. app, release, build, dyno, formation, addon, domain, collaborator */
  resource: Schema.String,
  data: Schema.Unknown,
  previous_data: Schema.optional(Schema.Unknown),
  actor: Schema.optional(Schema.NullOr(lenient({ id: Schema.optional(Schema.String), email: Schema.optional(Schema.String) }))),
  created_at: Schema.optional(Schema.String),
  updated_at: Schema.optional(Schema.String),
  published_at: Schema.optional(Schema.NullOr(Schema.String)),
  version: Schema.optional(Schema.String),
  webhook_metadata: Schema.optional(Schema.Unknown)
})
export type WebhookEvent = typeof WebhookEvent.Type

/** The delivery was not signed with our secret (or not signed at all). Answer 401 and drop it. */
export class WebhookSignatureInvalid extends Data.TaggedError("WebhookSignatureInvalid")<{ readonly reason: string }> {
  override get message(): string {
    return `Webhook signature rejected: ${this.reason}`
  }
}

/** Signed correctly, but the body is not a webhook envelope. */
export class WebhookPayloadInvalid extends Data.TaggedError("WebhookPayloadInvalid")<{ readonly reason: string }> {
  override get message(): string {
    return `Webhook payload rejected: ${this.reason}`
  }
}

/** The signature Heroku computes for `body` (what the header should say). */
export const sign = (secret: Redacted.Redacted<string>, body: string | Uint8Array): string =>
  createHmac("sha256", Redacted.value(secret)).update(body).digest("base64")

/** Checks the header against the raw body's HMAC, in constant time. */
export const verify = (secret: Redacted.Redacted<string>, body: string | Uint8Array, signature: string | undefined): boolean => {
  if (signature === undefined || signature.length === 0) return false
  const expected = Buffer.from(sign(secret, body), "base64")
  let given: Buffer
  try {
    given = Buffer.from(signature.trim(), "base64")
  } catch {
    return false
  }
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export interface Delivery {
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** The raw body, exactly as received (never re-serialized JSON). */
  readonly body: string | Uint8Array
}

const headerValue = (headers: Delivery["headers"], name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : (value as string | undefined)
  }
  return undefined
}

/** Verifies and decodes one delivery. */
export const decode = (
  secret: Redacted.Redacted<string>,
  delivery: Delivery
): Effect.Effect<WebhookEvent, WebhookSignatureInvalid | WebhookPayloadInvalid> =>
  Effect.suspend((): Effect.Effect<WebhookEvent, WebhookSignatureInvalid | WebhookPayloadInvalid> => {
    const signature = headerValue(delivery.headers, SIGNATURE_HEADER)
    if (!verify(secret, delivery.body, signature)) {
      return Effect.fail(
        new WebhookSignatureInvalid({ reason: signature === undefined ? "no Heroku-Webhook-Hmac-SHA256 header" : "the signature does not match the body" })
      )
    }
    const text = typeof delivery.body === "string" ? delivery.body : Buffer.from(delivery.body).toString("utf8")
    return Schema.decodeUnknown(Schema.parseJson(WebhookEvent))(text).pipe(
      Effect.mapError((error) => new WebhookPayloadInvalid({ reason: ParseResult.TreeFormatter.formatErrorSync(error) }))
    )
  })

export interface Receiver {
  /** Verify, decode and publish one delivery; answer the HTTP request with `status`. */
  readonly handle: (delivery: Delivery) => Effect.Effect<{ readonly status: 204 | 400 | 401 }>
  /** Every verified event, in arrival order. */
  readonly events: Stream.Stream<WebhookEvent>
}

/**
 * A receiver to plug into any HTTP server: `handle` each POST, and consume `events`. Rejected deliveries
 * are answered 401 (bad signature) or 400 (bad payload) and never reach the stream.
 */
export const receiver = (secret: Redacted.Redacted<string>): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<WebhookEvent>(), Queue.shutdown)
    return {
      handle: (delivery) =>
        decode(secret, delivery).pipe(
          Effect.flatMap((event) => Queue.offer(queue, event)),
          Effect.as({ status: 204 as const }),
          Effect.catchTags({
            WebhookSignatureInvalid: () => Effect.succeed({ status: 401 as const }),
            WebhookPayloadInvalid: () => Effect.succeed({ status: 400 as const })
          })
        ),
      events: Stream.fromQueue(queue)
    }
  })

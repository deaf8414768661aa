/**
 * App webhooks: verify `Heroku-Webhook-Hmac-SHA256` (strict base64 of the HMAC-SHA256 of the raw body,
 * compared in constant time), decode the delivery envelope, drop replays (Heroku retries a delivery for up
 * to 72 hours, so duplicates are normal) and deliveries whose signed `created_at` is too old (a replay the
 * store no longer remembers), and expose verified events as a `Stream`.
 *
 * @since 0.1.0
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Clock, Context, Duration, Effect, Layer, Option, Queue, Redacted, Schema, type Scope, Stream } from "effect"
import { layerConstructor } from "@agentloop/core/internal/layerConstructor"
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
export class WebhookSignatureInvalid extends Schema.TaggedError<WebhookSignatureInvalid>()("WebhookSignatureInvalid", { reason: Schema.String }) {
  override get message(): string {
    return `Webhook signature rejected: ${this.reason}`
  }
}

/** Signed correctly, but the body is not a webhook envelope. */
export class WebhookPayloadInvalid extends Schema.TaggedError<WebhookPayloadInvalid>()("WebhookPayloadInvalid", { reason: Schema.String }) {
  override get message(): string {
    return `Webhook payload rejected: ${this.reason}`
  }
}

/** The signature Heroku computes for `body` (what the header should say). */
export const sign = (secret: Redacted.Redacted<string>, body: string | Uint8Array): string =>
  createHmac("sha256", Redacted.value(secret)).update(body).digest("base64")

/** A SHA-256 digest in canonical base64: 43 characters and one `=`, nothing else (no whitespace, no URL alphabet). */
const STRICT_BASE64_SHA256 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/

/**
 * Checks the header against the raw body's HMAC, in constant time. The header must be canonical base64 of
 * 32 bytes: Node's lenient decoder would otherwise accept the same bytes spelled many ways.
 */
export const verify = (secret: Redacted.Redacted<string>, body: string | Uint8Array, signature: string | undefined): boolean => {
  if (signature === undefined || !STRICT_BASE64_SHA256.test(signature)) return false
  const expected = Buffer.from(sign(secret, body), "base64")
  const given = Buffer.from(signature, "base64")
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

/** The id that is the same across Heroku's retries of one delivery: `webhook_metadata.delivery.id`, else the event id. */
export const deliveryId = (event: WebhookEvent): string => {
  const metadata = (event.webhook_metadata ?? {}) as { delivery?: { id?: unknown } }
  return typeof metadata.delivery?.id === "string" ? `delivery:${metadata.delivery.id}` : `event:${event.id}`
}

/** Remembers which deliveries were seen, for a window. Pluggable: a database table for several receivers. */
export interface ReplayStore {
  /** Records `id` if it was not seen within the window; `true` when it is new, `false` for a replay. */
  readonly claim: (id: string, now: number) => Effect.Effect<boolean>
  /**
   * How long the store remembers an id, when it forgets them (the memory store does). The receiver refuses
   * deliveries older than this too, so a replay after the store forgot it is never taken for new.
   */
  readonly window?: Duration.Duration | undefined
}

export class ReplayGuard extends Context.Service<ReplayGuard, ReplayStore>()("@agentloop/heroku-platform/Webhooks/ReplayGuard") {}

/** Heroku retries a failed delivery for up to 72 hours. */
export const DEFAULT_REPLAY_WINDOW: Duration.Duration = Duration.hours(72)

/** An in-memory store: ids expire after `window` (default 72 hours), at most `maxEntries` (oldest first out). */
export const replayStoreMemory = (options: { readonly window?: Duration.Input; readonly maxEntries?: number } = {}): ReplayStore => {
  const windowMs = Duration.toMillis(options.window ?? DEFAULT_REPLAY_WINDOW)
  const maxEntries = options.maxEntries ?? 100_000
  const seen = new Map<string, number>()
  return {
    window: Duration.millis(windowMs),
    claim: (id, now) =>
      Effect.sync(() => {
        // Insertion order is time order: expire from the front.
        for (const [key, at] of seen) {
          if (now - at < windowMs) break
          seen.delete(key)
        }
        if (seen.has(id)) return false
        if (seen.size >= maxEntries) seen.delete(seen.keys().next().value!)
        seen.set(id, now)
        return true
      })
  }
}

/**
 * An in-memory replay guard. A layer and its constructor: `Webhooks.layerReplayMemory` (defaults) or
 * `Webhooks.layerReplayMemory({ window: "10 minutes" })`.
 */
export const layerReplayMemory: Layer.Layer<ReplayGuard> & ((options?: Parameters<typeof replayStoreMemory>[0]) => Layer.Layer<ReplayGuard>) = layerConstructor(
  (options?: Parameters<typeof replayStoreMemory>[0]) => Layer.sync(ReplayGuard, () => replayStoreMemory(options))
)

const decodeEnvelope = Schema.decodeUnknownEffect(Schema.fromJsonString(WebhookEvent))

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
    return decodeEnvelope(text).pipe(Effect.mapError((error) => new WebhookPayloadInvalid({ reason: error.message })))
  })

/**
 * How long after its signed `created_at` a delivery is still taken (default: the replay window, 72 hours,
 * which is how long Heroku retries). Older deliveries are refused, so a replay is refused even when the
 * replay store no longer knows it: after its window, or after a restart with the in-memory store.
 */
export const DEFAULT_MAX_AGE: Duration.Duration = DEFAULT_REPLAY_WINDOW

/** How far in the future a `created_at` may be (the two clocks disagree a little): 5 minutes. */
export const DEFAULT_CLOCK_SKEW: Duration.Duration = Duration.minutes(5)

/** Whether a delivery's signed `created_at` is recent enough to take: `fresh`, `stale`, `future`, or `undated` (absent or not a date). */
export type Freshness = "fresh" | "stale" | "future" | "undated"

/** Pure: the freshness of an event at `now` (ms), given the oldest age and the clock skew allowed (ms). */
export const freshness = (event: WebhookEvent, now: number, maxAgeMs: number, clockSkewMs: number): Freshness => {
  const created = event.created_at === undefined ? Number.NaN : Date.parse(event.created_at)
  if (Number.isNaN(created)) return "undated"
  if (created > now + clockSkewMs) return "future"
  return now - created > maxAgeMs ? "stale" : "fresh"
}

/** What `Receiver.handle` answers. */
export interface Handled {
  readonly status: 204 | 400 | 401
  readonly replay?: true
  readonly stale?: "stale" | "future"
}

export interface Receiver {
  /**
   * Verify, decode and publish one delivery; answer the HTTP request with `status`. A replay (a delivery id
   * seen within the window) is answered 204 too, so Heroku stops retrying, but is not published again; so is
   * a stale delivery (signed `created_at` older than `maxAge`, or further in the future than `clockSkew`),
   * which is logged as a warning. A delivery without a `created_at` is answered 400.
   */
  readonly handle: (delivery: Delivery) => Effect.Effect<Handled>
  /** Every verified event, in arrival order. */
  readonly events: Stream.Stream<WebhookEvent>
}

export interface ReceiverOptions {
  readonly replay?: ReplayStore
  /**
   * The oldest delivery taken, by its signed `created_at` (default `DEFAULT_MAX_AGE`, 72 hours; never more
   * than the replay store's `window`). With the in-memory store a restart forgets the deliveries seen: a
   * replay younger than `maxAge` is then taken again, so set `maxAge` to what a restart may re-deliver, or
   * use a durable store.
   */
  readonly maxAge?: Duration.Input
  /** How far in the future a `created_at` may be (default `DEFAULT_CLOCK_SKEW`, 5 minutes). */
  readonly clockSkew?: Duration.Input
}

/**
 * A receiver to plug into any HTTP server: `handle` each POST, and consume `events`. Rejected deliveries
 * are answered 401 (bad signature) or 400 (bad payload) and never reach the stream.
 */
export const receiver = (secret: Redacted.Redacted<string>, options: ReceiverOptions = {}): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<WebhookEvent>(), Queue.shutdown)
    const replay = options.replay ?? Option.getOrElse(yield* Effect.serviceOption(ReplayGuard), () => replayStoreMemory())
    const maxAge = Duration.toMillis(options.maxAge ?? DEFAULT_MAX_AGE)
    // A store that forgets after its window cannot vouch for older deliveries: refuse those by age.
    const maxAgeMs = replay.window === undefined ? maxAge : Math.min(maxAge, Duration.toMillis(replay.window))
    const clockSkewMs = Duration.toMillis(options.clockSkew ?? DEFAULT_CLOCK_SKEW)
    const take = (event: WebhookEvent, now: number): Effect.Effect<Handled> =>
      Effect.flatMap(replay.claim(deliveryId(event), now), (fresh) =>
        fresh ? Effect.as(Queue.offer(queue, event), { status: 204 as const }) : Effect.succeed({ status: 204 as const, replay: true as const })
      )
    return {
      handle: (delivery) =>
        decode(secret, delivery).pipe(
          Effect.flatMap((event) =>
            Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<Handled> => {
              const age = freshness(event, now, maxAgeMs, clockSkewMs)
              if (age === "fresh") return take(event, now)
              if (age === "undated") return Effect.succeed({ status: 400 as const })
              return Effect.as(
                Effect.logWarning(`webhook delivery ${deliveryId(event)} refused: created_at ${event.created_at} is ${age === "stale" ? "older than the maximum age" : "in the future"}`),
                { status: 204 as const, stale: age }
              )
            })
          ),
          Effect.catchTags({
            WebhookSignatureInvalid: () => Effect.succeed<Handled>({ status: 401 }),
            WebhookPayloadInvalid: () => Effect.succeed<Handled>({ status: 400 })
          })
        ),
      events: Stream.fromQueue(queue)
    }
  })

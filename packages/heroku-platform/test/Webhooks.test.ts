import { Webhooks } from "@agentloop/heroku-platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"

const secret = Redacted.make("whsec_test")
const envelope = {
  action: "update",
  actor: { email: "user@example.com", id: "096370c8-f3ad-4e20-a309-fb4f06ec0a89" },
  created_at: "2016-10-26T22:50:14Z",
  id: "d472a8bb-1a3c-4f78-aad1-995e6d0022ec",
  data: { id: "d4714cc8-aa56-4314-817c-0c6a66ff3d41", name: "sample-app-0301", maintenance: false },
  previous_data: {},
  published_at: null,
  resource: "app",
  sequence: null,
  updated_at: "2016-10-26T22:50:14Z",
  version: "application/vnd.heroku+json; version=3",
  webhook_metadata: { attempt: { id: "8a44f820" }, delivery: { id: "d244009a" }, event: { id: "d472a8bb", include: "api:app" }, webhook: { id: "01234567" } }
}
const body = JSON.stringify(envelope)
/** The test clock at the moment the envelope says it was created. */
const atCreation = TestClock.setTime(Date.parse(envelope.created_at))

describe("webhook signatures", () => {
  it("accepts the base64 HMAC-SHA256 of the raw body", () => {
    const signature = Webhooks.sign(secret, body)
    expect(signature).toMatch(/^[A-Za-z0-9+/]+=*$/)
    expect(Webhooks.verify(secret, body, signature)).toBe(true)
    expect(Webhooks.verify(secret, Buffer.from(body), signature)).toBe(true)
  })

  it("rejects a tampered body, another secret, a missing or garbled header", () => {
    const signature = Webhooks.sign(secret, body)
    expect(Webhooks.verify(secret, body.replace("false", "true"), signature)).toBe(false)
    expect(Webhooks.verify(Redacted.make("other"), body, signature)).toBe(false)
    expect(Webhooks.verify(secret, body, undefined)).toBe(false)
    expect(Webhooks.verify(secret, body, "")).toBe(false)
    expect(Webhooks.verify(secret, body, "not base64 at all!!")).toBe(false)
    expect(Webhooks.verify(secret, body, signature.slice(0, -4))).toBe(false)
  })

  it("only canonical base64 of 32 bytes is accepted: no whitespace, URL alphabet, missing padding or non-canonical bits", () => {
    const signature = Webhooks.sign(secret, body)
    expect(signature).toHaveLength(44)
    const lastBits = (s: string) => {
      // Same bytes, non-canonical last character (Node's decoder ignores the two padding bits).
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
      const i = alphabet.indexOf(s[42]!)
      return `${s.slice(0, 42)}${alphabet[i + 1]}=`
    }
    expect(Buffer.from(lastBits(signature), "base64").equals(Buffer.from(signature, "base64"))).toBe(true)
    for (const variant of [
      ` ${signature}`,
      `${signature}\n`,
      signature.slice(0, -1),
      signature.replace(/\+/g, "-").replace(/\//g, "_"),
      `${signature}=`,
      lastBits(signature),
      `${signature.slice(0, 20)} ${signature.slice(20)}`
    ]) {
      if (variant === signature) continue
      expect(Webhooks.verify(secret, body, variant), JSON.stringify(variant)).toBe(false)
    }
    expect(Webhooks.verify(secret, body, signature)).toBe(true)
  })

  it("a re-serialized body does not verify: only the raw bytes count", () => {
    const pretty = JSON.stringify(envelope, null, 2)
    expect(Webhooks.verify(secret, pretty, Webhooks.sign(secret, body))).toBe(false)
  })
})

describe("webhook deliveries", () => {
  it.effect("decode verifies, then decodes the envelope, keeping unknown fields", () =>
    Effect.gen(function* () {
      const event = yield* Webhooks.decode(secret, { headers: { "Heroku-Webhook-Hmac-SHA256": Webhooks.sign(secret, body) }, body })
      expect(event).toMatchObject({ resource: "app", action: "update", data: { name: "sample-app-0301" } })
      expect((event as Record<string, unknown>)["sequence"]).toBeNull()
      const bad = yield* Effect.flip(Webhooks.decode(secret, { headers: { "heroku-webhook-hmac-sha256": "AAAA" }, body }))
      expect(bad).toMatchObject({ _tag: "WebhookSignatureInvalid", reason: "the signature does not match the body" })
      const unsigned = yield* Effect.flip(Webhooks.decode(secret, { headers: {}, body }))
      expect(unsigned.message).toContain("no Heroku-Webhook-Hmac-SHA256 header")
      const junk = '{"hello":1}'
      const notEnvelope = yield* Effect.flip(Webhooks.decode(secret, { headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, junk) }, body: junk }))
      expect(notEnvelope._tag).toBe("WebhookPayloadInvalid")
      expect(notEnvelope.message).toContain('["id"]')
    }))

  it.effect("a receiver answers 204/401/400 and streams only verified events", () =>
    Effect.gen(function* () {
      yield* atCreation
      const receiver = yield* Webhooks.receiver(secret)
      const release = JSON.stringify({
        ...envelope,
        id: "e2",
        resource: "release",
        action: "create",
        webhook_metadata: { ...envelope.webhook_metadata, delivery: { id: "d2" } }
      })
      expect(yield* receiver.handle({ headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, body) }, body })).toEqual({ status: 204 })
      expect(yield* receiver.handle({ headers: { "heroku-webhook-hmac-sha256": "forged" }, body })).toEqual({ status: 401 })
      expect(yield* receiver.handle({ headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, "[]") }, body: "[]" })).toEqual({ status: 400 })
      expect(yield* receiver.handle({ headers: { "Heroku-Webhook-Hmac-SHA256": [Webhooks.sign(secret, release)] }, body: release })).toEqual({ status: 204 })
      const events = yield* Stream.runCollect(Stream.take(receiver.events, 2))
      expect(events.map((e) => [e.resource, e.action])).toEqual([
        ["app", "update"],
        ["release", "create"]
      ])
    }))
})

describe("webhook replay protection", () => {
  const deliver = (id: string, delivery: string, attempt: string, createdAt?: number) => {
    const raw = JSON.stringify({
      ...envelope,
      id,
      ...(createdAt === undefined ? {} : { created_at: new Date(createdAt).toISOString() }),
      webhook_metadata: { ...envelope.webhook_metadata, delivery: { id: delivery }, attempt: { id: attempt } }
    })
    return { headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, raw) }, body: raw }
  }

  it.effect("a retried delivery (same delivery id, new attempt) is answered 204 but published once; after the window it is refused by age, not taken for new", () =>
    Effect.gen(function* () {
      yield* atCreation
      const receiver = yield* Webhooks.receiver(secret, { replay: Webhooks.replayStoreMemory({ window: "1 hour" }) })
      expect(yield* receiver.handle(deliver("e1", "d1", "a1"))).toEqual({ status: 204 })
      expect(yield* receiver.handle(deliver("e1", "d1", "a2"))).toEqual({ status: 204, replay: true })
      expect(yield* receiver.handle(deliver("e2", "d2", "a1"))).toEqual({ status: 204 })
      yield* TestClock.adjust("59 minutes")
      expect(yield* receiver.handle(deliver("e1", "d1", "a3"))).toEqual({ status: 204, replay: true })
      yield* TestClock.adjust("2 minutes")
      // The store forgot d1 (its window is 1 hour): the signed created_at, 61 minutes old, refuses it.
      expect(yield* receiver.handle(deliver("e1", "d1", "a4"))).toEqual({ status: 204, stale: "stale" })
      // A delivery created now is taken.
      expect(yield* receiver.handle(deliver("e3", "d3", "a1", yield* Clock.currentTimeMillis))).toEqual({ status: 204 })
      const events = yield* Stream.runCollect(Stream.take(receiver.events, 3))
      expect(events.map((e) => e.id)).toEqual(["e1", "e2", "e3"])
    }))

  it.effect("a replay after a restart with the in-memory store is refused once older than maxAge; a fresh one is taken", () =>
    Effect.gen(function* () {
      yield* atCreation
      const before = yield* Webhooks.receiver(secret, { maxAge: "5 minutes" })
      expect(yield* before.handle(deliver("e1", "d1", "a1"))).toEqual({ status: 204 })
      // The restart: a new receiver, a new (empty) memory store.
      yield* TestClock.adjust("10 minutes")
      const after = yield* Webhooks.receiver(secret, { maxAge: "5 minutes" })
      expect(yield* after.handle(deliver("e1", "d1", "a1"))).toEqual({ status: 204, stale: "stale" })
      expect(yield* after.handle(deliver("e1", "d1", "a2"))).toEqual({ status: 204, stale: "stale" })
      expect(yield* after.handle(deliver("e4", "d4", "a1", yield* Clock.currentTimeMillis))).toEqual({ status: 204 })
      const events = yield* Stream.runCollect(Stream.take(after.events, 1))
      expect(events.map((e) => e.id)).toEqual(["e4"])
    }))

  it.effect("created_at: the default maxAge is the 72-hour window; far in the future or missing is refused", () =>
    Effect.gen(function* () {
      yield* atCreation
      const receiver = yield* Webhooks.receiver(secret)
      const now = yield* Clock.currentTimeMillis
      yield* TestClock.adjust("71 hours")
      expect(yield* receiver.handle(deliver("e1", "d1", "a1", now))).toEqual({ status: 204 })
      yield* TestClock.adjust("2 hours")
      expect(yield* receiver.handle(deliver("e2", "d2", "a1", now))).toEqual({ status: 204, stale: "stale" })
      const later = (yield* Clock.currentTimeMillis) + 10 * 60_000
      expect(yield* receiver.handle(deliver("e3", "d3", "a1", later))).toEqual({ status: 204, stale: "future" })
      expect(yield* receiver.handle(deliver("e5", "d5", "a1", (yield* Clock.currentTimeMillis) + 60_000))).toEqual({ status: 204 })
      const undated = JSON.stringify({ ...envelope, id: "e6", created_at: undefined, webhook_metadata: { delivery: { id: "d6" } } })
      expect(yield* receiver.handle({ headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, undated) }, body: undated })).toEqual({ status: 400 })
      expect(Webhooks.freshness({ ...envelope, created_at: "yesterday" }, 0, 1000, 1000)).toBe("undated")
    }))

  it.effect("the store is pluggable (a shared table for several receivers); a forged replay is still a 401", () =>
    Effect.gen(function* () {
      yield* atCreation
      const claimed: Array<string> = []
      const store: Webhooks.ReplayStore = {
        claim: (id) => Effect.sync(() => (claimed.includes(id) ? false : (claimed.push(id), true)))
      }
      const first = yield* Webhooks.receiver(secret, { replay: store })
      const second = yield* Webhooks.receiver(secret).pipe(Effect.provideService(Webhooks.ReplayGuard, store))
      expect(yield* first.handle(deliver("e1", "d1", "a1"))).toEqual({ status: 204 })
      expect(yield* second.handle(deliver("e1", "d1", "a2"))).toEqual({ status: 204, replay: true })
      expect(yield* second.handle({ ...deliver("e9", "d9", "a1"), headers: { "heroku-webhook-hmac-sha256": "AAAA" } })).toEqual({ status: 401 })
      expect(claimed).toEqual(["delivery:d1"])
    }))

  it("the memory store bounds its size, oldest out first", () => {
    const store = Webhooks.replayStoreMemory({ maxEntries: 2 })
    const claim = (id: string) => Effect.runSync(store.claim(id, 0))
    expect([claim("a"), claim("b"), claim("c"), claim("c"), claim("a"), claim("b")]).toEqual([true, true, true, false, true, true])
  })
})

import { Webhooks } from "@agentloop/heroku-platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Stream } from "effect"
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
  const deliver = (id: string, delivery: string, attempt: string) => {
    const raw = JSON.stringify({ ...envelope, id, webhook_metadata: { ...envelope.webhook_metadata, delivery: { id: delivery }, attempt: { id: attempt } } })
    return { headers: { "heroku-webhook-hmac-sha256": Webhooks.sign(secret, raw) }, body: raw }
  }

  it.effect("a retried delivery (same delivery id, new attempt) is answered 204 but published once; after the window it is new again", () =>
    Effect.gen(function* () {
      const receiver = yield* Webhooks.receiver(secret, { replay: Webhooks.replayStoreMemory({ window: "1 hour" }) })
      expect(yield* receiver.handle(deliver("e1", "d1", "a1"))).toEqual({ status: 204 })
      expect(yield* receiver.handle(deliver("e1", "d1", "a2"))).toEqual({ status: 204, replay: true })
      expect(yield* receiver.handle(deliver("e2", "d2", "a1"))).toEqual({ status: 204 })
      yield* TestClock.adjust("59 minutes")
      expect(yield* receiver.handle(deliver("e1", "d1", "a3"))).toEqual({ status: 204, replay: true })
      yield* TestClock.adjust("2 minutes")
      expect(yield* receiver.handle(deliver("e1", "d1", "a4"))).toEqual({ status: 204 })
      const events = yield* Stream.runCollect(Stream.take(receiver.events, 3))
      expect(events.map((e) => e.id)).toEqual(["e1", "e2", "e1"])
    }))

  it.effect("the store is pluggable (a shared table for several receivers); a forged replay is still a 401", () =>
    Effect.gen(function* () {
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

import { Retry } from "@agentloop/wire"
import { it } from "@effect/vitest"
import { Duration, Effect, Ref } from "effect"
import { describe, expect } from "vitest"

const ms = (d: Duration.Duration | undefined) => (d === undefined ? undefined : Duration.toMillis(d))

describe("Retry", () => {
  it("reads Retry-After as seconds or an HTTP-date (never negative), and ignores garbage", () => {
    const now = Date.parse("2026-01-01T00:00:00Z")
    expect(ms(Retry.parseRetryAfter("2", now))).toBe(2000)
    expect(ms(Retry.parseRetryAfter(" 1.5 ", now))).toBe(1500)
    expect(ms(Retry.parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now))).toBe(30_000)
    expect(ms(Retry.parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now))).toBe(0)
    expect(Retry.parseRetryAfter("soon", now)).toBeUndefined()
    expect(Retry.parseRetryAfter(undefined, now)).toBeUndefined()
  })

  it("re-sends a side effect only when the server provably did nothing; an idempotent request also after 5xx", () => {
    const side = (status: number, after?: number) => Retry.afterStatus(status, after === undefined ? undefined : Duration.millis(after), false)._tag
    expect([408, 425, 429, 503, 529].map((s) => side(s))).toEqual(["Retry", "Retry", "Retry", "Retry", "Retry"])
    expect([500, 502, 504].map((s) => side(s))).toEqual(["Stop", "Stop", "Stop"])
    expect(side(500, 1000)).toBe("Retry") // the server said when to come back
    expect([400, 401, 404, 409, 422].map((s) => side(s))).toEqual(["Stop", "Stop", "Stop", "Stop", "Stop"])
    expect([500, 502, 504].map((s) => Retry.afterStatus(s, undefined, true)._tag)).toEqual(["Retry", "Retry", "Retry"])
    expect(Retry.afterStatus(429, Duration.seconds(2), false)).toEqual({ _tag: "Retry", after: Duration.seconds(2) })
  })

  it("a transport failure is retried for a side effect only when the connection was never made", () => {
    const refused = new Error("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) })
    const reset = new Error("other side closed", { cause: Object.assign(new Error("socket"), { code: "UND_ERR_SOCKET" }) })
    expect(Retry.afterTransport(refused, false)._tag).toBe("Retry")
    expect(Retry.afterTransport(reset, false)._tag).toBe("Stop")
    expect(Retry.afterTransport(reset, true)._tag).toBe("Retry")
  })

  it.live("retrying stops after maxRetries, and at once when told to stop or when Retry-After exceeds the cap", () =>
    Effect.gen(function* () {
      const count = yield* Ref.make(0)
      const failing = Effect.andThen(Ref.update(count, (n) => n + 1), Effect.fail("boom"))
      yield* Effect.flip(Retry.retrying({ maxRetries: 2, baseDelay: "1 millis" })(failing, () => ({ _tag: "Retry" })))
      expect(yield* Ref.getAndSet(count, 0)).toBe(3)
      yield* Effect.flip(Retry.retrying({ maxRetries: 2 })(failing, () => Retry.stop))
      expect(yield* Ref.getAndSet(count, 0)).toBe(1)
      yield* Effect.flip(Retry.retrying({ maxRetries: 2, maxRetryAfter: "1 second" })(failing, () => ({ _tag: "Retry", after: Duration.seconds(5) })))
      expect(yield* Ref.get(count)).toBe(1)
    }))
})

import { Range, RateLimiter } from "@agentloop/heroku-platform"
import { describe, expect, it } from "vitest"

describe("Range", () => {
  it("formats the way Heroku's Go client does", () => {
    expect(Range.format({ field: "id" })).toBe("id ..")
    expect(Range.format({ field: "id", max: 10 })).toBe("id ..; max=10")
    expect(Range.format({ field: "version", max: 10, order: "desc" })).toBe("version ..; max=10,order=desc")
    expect(Range.format({ field: "name", start: "b", startExclusive: true, max: 5 })).toBe("name ]b..; max=5")
  })

  it("rejects a page size outside 1..1000 with a typed error", () => {
    expect(() => Range.format({ field: "id", max: 1001 })).toThrow(Range.InvalidRange)
    expect(() => Range.format({ field: "id", max: 0 })).toThrow(/max must be an integer from 1 to 1000/)
  })

  it("parses every separator style seen in the wild", () => {
    for (const header of ["id ..; max=10;", "id ..; max=10,order=desc", "id ..; order=desc, max=10", "id ..;max=10;order=desc"]) {
      expect(Range.parse(header)).toMatchObject({ field: "id", max: 10 })
    }
    expect(Range.parse("id ]abc..; max=200")).toEqual({
      field: "id",
      start: "abc",
      startExclusive: true,
      end: undefined,
      max: 200,
      order: undefined
    })
    expect(Range.parse("version ..; order=desc, max=10")?.order).toBe("desc")
    expect(Range.parse("not a range")).toBeUndefined()
  })

  it("format and parse agree", () => {
    const spec = { field: "name", start: "m", startExclusive: true, max: 42, order: "desc" as const }
    expect(Range.parse(Range.format(spec))).toMatchObject(spec)
  })
})

describe("RateLimiter (token bucket)", () => {
  const policy = { capacity: 4500, refillPerMinute: 75 }

  it("spends one token per request while tokens remain", () => {
    const first = RateLimiter.take(RateLimiter.full(policy, 0), policy, 0)
    expect(first).toEqual({ waitMs: 0, bucket: { tokens: 4499, updatedAt: 0, inFlight: 1 } })
  })

  it("refills at 75 per minute up to the cap", () => {
    const empty = { tokens: 0, updatedAt: 0, inFlight: 0 }
    expect(RateLimiter.refill(empty, policy, 60_000).tokens).toBeCloseTo(75)
    expect(RateLimiter.refill(empty, policy, 10 * 3_600_000).tokens).toBe(4500)
  })

  it("an empty pool makes callers wait 800 ms per token, queued in order", () => {
    const empty = { tokens: 0, updatedAt: 0, inFlight: 0 }
    const a = RateLimiter.take(empty, policy, 0)
    const b = RateLimiter.take(a.bucket, policy, 0)
    expect(a.waitMs).toBe(800)
    expect(b.waitMs).toBe(1600)
    expect(RateLimiter.waitForOne(policy)).toBe(800)
  })

  it("settles to RateLimit-Remaining minus the reservations still in flight", () => {
    expect(RateLimiter.settle({ tokens: 4000, updatedAt: 0, inFlight: 1 }, policy, 120, 0)).toEqual({ tokens: 120, updatedAt: 0, inFlight: 0 })
    // Three requests out, one answers: the server's count does not include the two still on the wire.
    expect(RateLimiter.settle({ tokens: 10, updatedAt: 0, inFlight: 3 }, policy, 10, 0)).toEqual({ tokens: 8, updatedAt: 0, inFlight: 2 })
    // Two callers queued behind an empty pool stay queued.
    expect(RateLimiter.settle({ tokens: -2, updatedAt: 0, inFlight: 3 }, policy, 0, 0).tokens).toBe(-2)
    // A failed request (no header) only gives its reservation back to the count.
    expect(RateLimiter.settle({ tokens: 5, updatedAt: 0, inFlight: 1 }, policy, undefined, 0)).toEqual({ tokens: 5, updatedAt: 0, inFlight: 0 })
  })

  it("a 429 empties the pool but keeps the queue", () => {
    expect(RateLimiter.exhausted({ tokens: 40, updatedAt: 0, inFlight: 0 }, policy, 0).tokens).toBe(0)
    expect(RateLimiter.exhausted({ tokens: -3, updatedAt: 0, inFlight: 3 }, policy, 0).tokens).toBe(-3)
  })
})

import { HerokuClient } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { clientLayer } from "./support.js"

const withClient = <A, E>(
  use: (client: HerokuClient.Service, fake: FakeHerokuPlatform.FakeHeroku) => Effect.Effect<A, E>,
  fakeOptions?: FakeHerokuPlatform.Options,
  clientOptions?: Partial<HerokuClient.Options>
) =>
  Effect.gen(function* () {
    const fake = yield* FakeHerokuPlatform.make(fakeOptions)
    return yield* Effect.flatMap(HerokuClient.HerokuClient, (client) => use(client, fake)).pipe(
      Effect.provide(clientLayer(fake, clientOptions))
    )
  })

describe("HerokuClient", () => {
  it.live("against FakeHerokuPlatform.layer: the fake and the client in one layer, the fake provided as Fake", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.Fake
      fake.addApp("alpha")
      const response = yield* Effect.flatMap(HerokuClient.HerokuClient, (client) => client.request({ method: "GET", path: "/apps/alpha" }))
      expect(response.body).toMatchObject({ name: "alpha" })
      expect(fake.requests).toHaveLength(1)
    }).pipe(
      Effect.provide(
        FakeHerokuPlatform.layer({}, (fake) =>
          HerokuClient.layer({ token: Redacted.make("test-token"), baseUrl: fake.url }).pipe(Layer.provide(FetchHttpClient.layer))
        )
      )
    ))

  it.live("sends the version 3 Accept header and the bearer token, and captures Request-Id", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        const response = yield* client.request({ method: "GET", path: "/apps/alpha" })
        expect(response.status).toBe(200)
        expect(response.body).toMatchObject({ name: "alpha" })
        expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/)
        expect(response.rateLimitRemaining).toBe(4499)
        expect(fake.requests[0]).toMatchObject({ method: "GET", path: "/apps/alpha", authorized: true, status: 200 })
      })
    ))

  it.live("maps error bodies to typed errors (401, 403, 404, 422, others) without leaking the token", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make({ tokens: { "test-token": ["read"] } })
      fake.addApp("alpha")
      const errorOf = (path: string, method: HerokuClient.Method = "GET", token = "test-token", body?: unknown) =>
        Effect.flatMap(HerokuClient.HerokuClient, (c) => c.request({ method, path, ...(body === undefined ? {} : { body }) })).pipe(
          Effect.flip,
          Effect.provide(clientLayer(fake, { token: Redacted.make(token) }))
        )
      const unauthorized = yield* errorOf("/apps", "GET", "wrong-token")
      expect(unauthorized).toMatchObject({ _tag: "HerokuUnauthorized", status: 401, id: "unauthorized", method: "GET", path: "/apps" })
      expect(JSON.stringify(unauthorized)).not.toContain("wrong-token")
      expect(String(unauthorized)).not.toContain("wrong-token")
      const forbidden = yield* errorOf("/apps/alpha/config-vars")
      expect(forbidden).toMatchObject({ _tag: "HerokuForbidden", status: 403, id: "forbidden" })
      expect(forbidden.message).toContain("read-protected")
      expect(yield* errorOf("/apps/nope")).toMatchObject({ _tag: "HerokuNotFound", id: "not_found", message: "Couldn't find that app." })
      const fullFake = yield* FakeHerokuPlatform.make()
      const invalid = yield* Effect.flatMap(HerokuClient.HerokuClient, (c) => c.request({ method: "POST", path: "/apps", body: { name: "Bad Name" } })).pipe(
        Effect.flip,
        Effect.provide(clientLayer(fullFake))
      )
      expect(invalid).toMatchObject({ _tag: "HerokuInvalidParams", status: 422, id: "invalid_params" })
      fullFake.inject({ status: 409, body: { id: "conflict", message: "busy" } })
      const conflict = yield* Effect.flatMap(HerokuClient.HerokuClient, (c) => c.request({ method: "GET", path: "/apps" })).pipe(
        Effect.flip,
        Effect.provide(clientLayer(fullFake))
      )
      expect(conflict).toMatchObject({ _tag: "HerokuApiError", status: 409, id: "conflict", message: "busy" })
    }))

  it.live("retries 503 with backoff, and fails typed when it persists", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        fake.inject({ status: 503, times: 2 })
        const ok = yield* client.request({ method: "GET", path: "/apps/alpha" })
        expect(ok.status).toBe(200)
        expect(fake.requests.map((r) => r.status)).toEqual([503, 503, 200])
        fake.inject({ status: 503, times: 10 })
        const error = yield* Effect.flip(client.request({ method: "GET", path: "/apps/alpha" }))
        expect(error).toMatchObject({ _tag: "HerokuUnavailable", status: 503 })
        expect(fake.requests.length).toBe(3 + 4) // one try plus three retries
      })
    ))

  it.live("retries a dropped connection for GET, never for a write", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        fake.inject({ drop: true, method: "GET" })
        expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
        fake.inject({ drop: true, method: "POST" })
        const error = yield* Effect.flip(client.request({ method: "POST", path: "/apps", body: { name: "beta-app" } }))
        expect(error._tag).toBe("HerokuTransportError")
        expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(1)
      })
    ))

  it.live("waits for slow responses instead of failing", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        fake.inject({ delayMs: 150 })
        const started = Date.now()
        expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
        expect(Date.now() - started).toBeGreaterThanOrEqual(140)
      })
    ))

  it.live("pages over 2,500 apps: a Stream of every app, and bounded pages with Next-Range", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        for (let i = 0; i < 2500; i++) fake.addApp(`app-${String(i).padStart(4, "0")}`)
        const all = yield* Stream.runCollect(client.list("/apps", { field: "name" }))
        expect(all).toHaveLength(2500)
        expect(new Set(all.map((a: any) => a.name)).size).toBe(2500)
        expect((all[0] as any).name).toBe("app-0000")
        expect((all[2499] as any).name).toBe("app-2499")
        expect(fake.requests.map((r) => [r.status, r.range])).toEqual([
          [206, "name ..; max=1000"],
          [206, "name ]app-0999..; max=1000"],
          [200, "name ]app-1999..; max=1000"]
        ])

        const first = yield* client.page("/apps", { range: { field: "name", max: 100, order: "desc" } })
        expect(first.items).toHaveLength(100)
        expect((first.items[0] as any).name).toBe("app-2499")
        expect(first.nextRange).toBe("name ]app-2400..; max=100, order=desc")
        const second = yield* client.page("/apps", { range: first.nextRange! })
        expect((second.items[0] as any).name).toBe("app-2399")

        const tooBig = yield* Effect.flip(client.page("/apps", { range: { field: "name", max: 5000 } }))
        expect(tooBig._tag).toBe("InvalidRange")
      })
    ))

  it.live("rate limit: the bucket paces requests when the pool is low, so the server never says 429", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          const started = Date.now()
          for (let i = 0; i < 6; i++) yield* client.request({ method: "GET", path: "/apps/alpha" })
          // 3 tokens in the pool, refilled at 1 per 50 ms: the last 3 requests each waited for a refill.
          expect(Date.now() - started).toBeGreaterThanOrEqual(140)
          expect(fake.requests.every((r) => r.status === 200)).toBe(true)
        }),
      { rateLimit: { capacity: 3, refillPerMinute: 1200 } },
      { rateLimit: { capacity: 3, refillPerMinute: 1200 } }
    ))

  it.live("rate limit: a 429 (another client spent the pool) waits for the refill, then retries", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          fake.inject({
            status: 429,
            body: { id: "rate_limit", message: "Your account reached the API rate limit" },
            headers: { "RateLimit-Remaining": "0" }
          })
          const started = Date.now()
          expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
          expect(fake.requests.map((r) => r.status)).toEqual([429, 200])
          // One token refills in 50 ms at 1,200 per minute: the retry waited for it.
          expect(Date.now() - started).toBeGreaterThanOrEqual(45)
        }),
      undefined,
      { rateLimit: { capacity: 4500, refillPerMinute: 1200 } }
    ))

  it.live("rate limit: RateLimit-Remaining keeps the client's bucket in step with the server", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          expect(yield* client.remainingEstimate).toBe(4500)
          yield* client.request({ method: "GET", path: "/apps/alpha" })
          expect(yield* client.remainingEstimate).toBe(fake.remaining())
          expect(fake.remaining()).toBe(1)
        }),
      { rateLimit: { capacity: 2, refillPerMinute: 0.0001 } },
      { rateLimit: { capacity: 4500, refillPerMinute: 0.0001 } }
    ))

  it.live("rate limit: an exhausted pool that does not refill fails with HerokuRateLimited", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          yield* client.request({ method: "GET", path: "/apps/alpha" })
          const error = yield* Effect.flip(client.request({ method: "GET", path: "/apps/alpha" }))
          expect(error).toMatchObject({ _tag: "HerokuRateLimited", status: 429, id: "rate_limit" })
        }),
      { rateLimit: { capacity: 1, refillPerMinute: 0.0001 } },
      { rateLimit: { capacity: 4500, refillPerMinute: 60_000 }, maxRateLimitWaits: 2 }
    ))

  it.live("GET /account/rate-limits costs nothing, on the server and in the bucket", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          const before = fake.remaining()
          const estimate = yield* client.remainingEstimate
          for (let i = 0; i < 3; i++) {
            const response = yield* client.request({ method: "GET", path: "/account/rate-limits" })
            expect(response.body).toEqual({ remaining: before })
          }
          expect(fake.remaining()).toBe(before)
          expect(yield* client.remainingEstimate).toBe(estimate)
        }),
      { rateLimit: { capacity: 10, refillPerMinute: 0.0001 } },
      { rateLimit: { capacity: 10, refillPerMinute: 0.0001 } }
    ))
})

describe("paging that cannot loop or truncate silently", () => {
  it.live("a 206 without Next-Range is a HerokuPagingError, not the whole list", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.inject({ status: 206, path: /^\/apps$/, body: [{ id: "1", name: "a" }], times: 2 })
        expect(yield* Effect.flip(client.page("/apps", { range: { field: "name", max: 1 } }))).toMatchObject({
          _tag: "HerokuPagingError",
          reason: "206 Partial Content without a Next-Range header"
        })
        const streamed = yield* Effect.flip(Stream.runCollect(client.list("/apps", { field: "name" })))
        expect(streamed._tag).toBe("HerokuPagingError")
      })
    ))

  it.live("a Next-Range cycle (A -> B -> A) fails typed after the pages it walked, without looping", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        const page = (next: string) => ({ status: 206, path: /^\/apps$/, body: [{ id: next }], headers: { "Next-Range": next } })
        fake.inject(page("id ]b..; max=1"))
        fake.inject(page("id ]c..; max=1"))
        fake.inject(page("id ]b..; max=1"))
        const error = yield* Effect.flip(Stream.runCollect(client.list("/apps", { max: 1 })))
        expect(error).toMatchObject({ _tag: "HerokuPagingError", reason: "Next-Range repeats an earlier range (id ]b..; max=1)" })
        expect(fake.requests.map((r) => r.range)).toEqual(["id ..; max=1", "id ]b..; max=1", "id ]c..; max=1"])
      })
    ))
})

describe("one rate-limit bucket per account, shared by every agent of a client", () => {
  it.live("429 with Retry-After: the client waits at least that long before the retry", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          fake.inject({ status: 429, body: { id: "rate_limit", message: "Your account reached the API rate limit" }, headers: { "Retry-After": "1", "RateLimit-Remaining": "0" } })
          const started = Date.now()
          expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
          expect(fake.requests.map((r) => r.status)).toEqual([429, 200])
          expect(Date.now() - started).toBeGreaterThanOrEqual(990)
        }),
      undefined,
      { rateLimit: { capacity: 4500, refillPerMinute: 60_000 } }
    ))

  it.live("requests in flight are counted: a fast answer does not free the tokens that slow requests hold", () =>
    withClient(
      (client, fake) =>
        Effect.gen(function* () {
          fake.addApp("alpha")
          fake.addApp("slow-app")
          // The server charges a request when it handles it: the slow ones are charged 1.5 s after they left.
          fake.inject({ path: /slow-app/, delayMs: 1500, times: 3 })
          const slow = yield* Effect.forkChild(
            Effect.forEach([1, 2, 3], () => client.request({ method: "GET", path: "/apps/slow-app" }), { concurrency: 3 })
          )
          yield* Effect.sleep("30 millis")
          // Another agent on the same client: its answer says 5 left, but 3 of those are already spoken for.
          expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).rateLimitRemaining).toBe(5)
          expect(yield* client.remainingEstimate).toBe(2)
          const more = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.forkChild(client.request({ method: "GET", path: "/apps/alpha" })))
          yield* Fiber.join(slow)
          const finished = Effect.sync(() => more.filter((fiber) => fiber.pollUnsafe() !== undefined).length)
          while ((yield* finished) < 2) yield* Effect.sleep("10 millis")
          // The other three wait for a refill that does not come in time: they never reach the server.
          yield* Effect.sleep("100 millis")
          expect(yield* finished).toBe(2)
          yield* Effect.forEach(more, (fiber) => Fiber.interrupt(fiber))
          expect(fake.requests.filter((r) => r.status === 429)).toEqual([])
          expect(fake.requests.filter((r) => r.status === 200)).toHaveLength(6)
          // The three that gave up waiting gave their reservations back.
          expect(yield* client.remainingEstimate).toBe(0)
        }),
      { rateLimit: { capacity: 6, refillPerMinute: 0.0001 } },
      { rateLimit: { capacity: 6, refillPerMinute: 0.0001 }, maxRateLimitWaits: 0 }
    ))
})

describe("errors carry no secrets", () => {
  it.live("a non-JSON error body is never copied; secret-shaped strings in Heroku's message are scrubbed", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        // A GET is retried on 5xx (1 + 3 retries): the page comes back every time.
        fake.inject({ status: 500, times: 4, raw: "<html>proxy saw Authorization: Bearer PLANTED0token123 and postgres://u:PLANTEDpw@h/db</html>" })
        const html = yield* Effect.flip(client.request({ method: "GET", path: "/apps" }))
        fake.inject({ status: 422, body: { id: "invalid_params", message: "bad url postgres://u:PLANTEDpw@h/db?srv=PLANTEDsrv" } })
        const json = yield* Effect.flip(client.request({ method: "GET", path: "/apps" }))
        expect(json.message).toBe("bad url postgres://[REDACTED]@h/db?srv=[REDACTED]")
        for (const error of [html, json]) {
          for (const text of [error.message, String(error), JSON.stringify(error)]) expect(text).not.toContain("PLANTED")
        }
      })
    ))
})

/** The Heroku Platform client follows wire's retry policy: Retry-After honoured, side effects never re-sent. */
import { HerokuClient } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { clientLayer } from "./support.js"

const withClient = <A, E>(f: (client: HerokuClient.Service, fake: FakeHerokuPlatform.FakeHeroku) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fake = yield* FakeHerokuPlatform.make()
    return yield* Effect.flatMap(HerokuClient.HerokuClient, (client) => f(client, fake)).pipe(Effect.provide(clientLayer(fake)))
  })

describe("HerokuClient retries (Retry-After, side effects)", () => {
  it.live("a 503 with Retry-After: 1 is retried after at least 1 s", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        fake.inject({ status: 503, headers: { "Retry-After": "1" } })
        const started = Date.now()
        expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
        expect(fake.requests.map((r) => r.status)).toEqual([503, 200])
      })
    ))

  it.live("a 429 with an HTTP-date Retry-After is waited for, and a POST is re-sent (the server did nothing)", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.inject({ status: 429, method: "POST", headers: { "Retry-After": new Date(Date.now() + 2000).toUTCString() }, body: { id: "rate_limit", message: "slow down" } })
        const started = Date.now()
        expect((yield* client.request({ method: "POST", path: "/apps", body: { name: "beta-app" } })).status).toBeLessThan(300)
        // An HTTP-date has one-second resolution: at least one second is left of the two.
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
        expect(fake.requests.filter((r) => r.method === "POST").map((r) => r.status)).toEqual([429, 201])
      })
    ))

  it.live("a 500 is retried for a GET but never for a POST", () =>
    withClient((client, fake) =>
      Effect.gen(function* () {
        fake.addApp("alpha")
        fake.inject({ status: 500, method: "GET" })
        expect((yield* client.request({ method: "GET", path: "/apps/alpha" })).status).toBe(200)
        fake.inject({ status: 500, method: "POST" })
        const error = yield* Effect.flip(client.request({ method: "POST", path: "/apps", body: { name: "gamma-app" } }))
        expect(error).toMatchObject({ status: 500 })
        expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(1)
      })
    ))
})

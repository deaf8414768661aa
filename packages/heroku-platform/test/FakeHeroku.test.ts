/** The fake accepts what Heroku accepts, and checks what Heroku checks. */
import { createRequire } from "node:module"
import { AuditLog, Grant, HerokuTools } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { clientLayer, execute } from "./support.js"

const get = (fake: FakeHerokuPlatform.FakeHeroku, path: string, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(`${fake.url}${path}`, { headers })
    return { status: response.status, body: (await response.json()) as any, headers: response.headers }
  })

const ACCEPT = "application/vnd.heroku+json; version=3"
const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`

describe("FakeHerokuPlatform", () => {
  it.live("accepts HTTP Basic (token as password, as heroku-client and the CLI send it) and Accept version=3.sdk", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      expect((yield* get(fake, "/apps/alpha", { Accept: ACCEPT, Authorization: basic("", "test-token") })).status).toBe(200)
      expect((yield* get(fake, "/apps/alpha", { Accept: ACCEPT, Authorization: basic("owner@example.com", "test-token") })).status).toBe(200)
      expect((yield* get(fake, "/apps/alpha", { Accept: ACCEPT, Authorization: basic("owner@example.com", "wrong") })).status).toBe(401)
      expect((yield* get(fake, "/apps/alpha", { Accept: `${ACCEPT}.sdk`, Authorization: "Bearer test-token" })).status).toBe(200)
      expect((yield* get(fake, "/apps/alpha", { Accept: "application/vnd.heroku+json; version=2", Authorization: "Bearer test-token" })).status).toBe(406)
      expect(fake.requests.map((r) => r.accept)).toContain(`${ACCEPT}.sdk`)
    }))

  it.live("keeps one request pool per account, shared by the account's tokens", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make({
        tokens: { "token-a": ["global"], "token-b": ["read"], "token-c": ["global"] },
        accounts: { "token-a": "acct-1", "token-b": "acct-1", "token-c": "acct-2" },
        rateLimit: { capacity: 10, refillPerMinute: 0.0001 }
      })
      fake.addApp("alpha")
      for (const token of ["token-a", "token-b", "token-b"]) {
        expect((yield* get(fake, "/apps/alpha", { Accept: ACCEPT, Authorization: `Bearer ${token}` })).status).toBe(200)
      }
      expect(fake.remaining("token-a")).toBe(7)
      expect(fake.remaining("token-b")).toBe(7)
      expect(fake.remaining("token-c")).toBe(10)
    }))

  it.live("scope-checks every route, /account/rate-limits included (identity)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make({ tokens: { "read-only": ["read"], identity: ["identity"] } })
      const limits = (token: string) => get(fake, "/account/rate-limits", { Accept: ACCEPT, Authorization: `Bearer ${token}` })
      expect(yield* limits("read-only")).toMatchObject({ status: 403, body: { id: "forbidden" } })
      expect(yield* limits("identity")).toMatchObject({ status: 200, body: { remaining: 4500 } })
      expect((yield* get(fake, "/account", { Accept: ACCEPT, Authorization: "Bearer read-only" })).status).toBe(403)
      expect((yield* get(fake, "/apps", { Accept: ACCEPT, Authorization: "Bearer identity" })).status).toBe(403)
    }))

  it.live("pages by values that contain dots (hostnames)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha")
      for (const host of ["a.example.com", "b.example.com", "c.example.com"]) {
        fake.state.domains.set(app["id"], [...(fake.state.domains.get(app["id"]) ?? []), { id: host, hostname: host }])
      }
      const first = yield* get(fake, "/apps/alpha/domains", { Accept: ACCEPT, Authorization: "Bearer test-token", Range: "hostname ..; max=1" })
      expect(first.status).toBe(206)
      expect(first.headers.get("next-range")).toBe("hostname ]a.example.com..; max=1")
      const second = yield* get(fake, "/apps/alpha/domains", { Accept: ACCEPT, Authorization: "Bearer test-token", Range: first.headers.get("next-range")! })
      expect(second.body.map((d: any) => d.hostname)).toEqual(["b.example.com"])
    }))

  it.live("formation updates: the tools send dyno_size; the fake takes dyno_size ({ name } or { id }) and the deprecated size, as Heroku does", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = Grant.make({ access: { formation: "full" } })
      const appId = [...fake.state.apps.values()][0]!["id"]
      const basic = fake.state.formation.get(appId)![0]!["dyno_size"]["id"] as string
      yield* Effect.gen(function* () {
        expect((yield* execute(grant, "heroku_formation_update", { app: "alpha", type: "web", size: "Standard-2X" }, "oncall")).value).toMatchObject({
          size: "Standard-2X",
          dyno_size: { name: "Standard-2X" }
        })
        expect((yield* execute(grant, "heroku_formation_batch_update", { app: "alpha", updates: [{ type: "web", quantity: 2, size: "Standard-1X" }] }, "oncall")).isError).toBe(false)
      }).pipe(Effect.provide(HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), AuditLog.layerMemory)))))
      expect(fake.requests.filter((r) => r.method === "PATCH").map((r) => r.body)).toEqual([
        { dyno_size: { name: "Standard-2X" } },
        { updates: [{ type: "web", quantity: 2, dyno_size: { name: "Standard-1X" } }] }
      ])
      const patch = (path: string, body: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`${fake.url}${path}`, {
            method: "PATCH",
            headers: { Accept: ACCEPT, Authorization: "Bearer test-token", "Content-Type": "application/json" },
            body: JSON.stringify(body)
          })
          return { status: response.status, body: (await response.json()) as any }
        })
      expect(yield* patch("/apps/alpha/formation", { updates: [{ type: "web", dyno_size: { name: "Performance-M" } }] })).toMatchObject({
        status: 200,
        body: [{ size: "Performance-M", dyno_size: { name: "Performance-M" } }]
      })
      expect(yield* patch("/apps/alpha/formation/web", { quantity: 1, dyno_size: { id: basic } })).toMatchObject({ status: 200, body: { size: "Basic", dyno_size: { id: basic, name: "Basic" } } })
      // The deprecated field, as Heroku's CLI still sends it.
      expect(yield* patch("/apps/alpha/formation/web", { size: "standard-1x" })).toMatchObject({ status: 200, body: { dyno_size: { name: "Standard-1X" } } })
      for (const wrong of [{ dyno_size: "Basic" }, { dyno_size: { id: basic, name: "Basic" } }, { dyno_size: { name: "Huge-9X" } }, { size: 1 }, { quantity: 1, colour: "red" }]) {
        expect(yield* patch("/apps/alpha/formation/web", wrong), JSON.stringify(wrong)).toMatchObject({ status: 422, body: { id: "invalid_params" } })
      }
      expect(yield* patch("/apps/alpha/formation", { updates: [{ type: "web", size: "Basic", extra: true }] })).toMatchObject({ status: 422 })
    }))
})

describe("FakeHerokuPlatform against Heroku's official client (npm heroku-client)", () => {
  // heroku-client ships no types; it is plain CommonJS.
  const Heroku = createRequire(import.meta.url)("heroku-client") as new (options: { token: string; host: string }) => {
    get: (path: string, options?: Record<string, unknown>) => Promise<any>
    patch: (path: string, options?: Record<string, unknown>) => Promise<any>
    delete: (path: string, options?: Record<string, unknown>) => Promise<any>
  }

  it.live("its Basic auth, Accept header, Next-Range walking, formation bodies and two-factor header all work", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make({ twoFactor: { code: "123456", paths: /^\/apps\/app-000$/, methods: ["DELETE"] } })
      // heroku-client asks for `id ..; max=1000` and follows Next-Range.
      for (let i = 0; i < 1200; i++) fake.addApp(`app-${String(i).padStart(3, "0")}`)
      const heroku = new Heroku({ token: "test-token", host: fake.url })
      const apps = yield* Effect.promise(() => heroku.get("/apps"))
      expect(apps).toHaveLength(1200)
      expect(fake.requests.map((r) => r.status)).toEqual([206, 200])
      expect(fake.requests[1]!.range).toMatch(/^id \][0-9a-f-]{36}\.\.; max=1000$/)
      const updated = yield* Effect.promise(() => heroku.patch("/apps/app-001/formation", { body: { updates: [{ type: "web", quantity: 2, size: "Standard-1X" }] } }))
      expect(updated).toMatchObject([{ type: "web", quantity: 2, size: "Standard-1X" }])
      const refused = yield* Effect.promise(() => heroku.delete("/apps/app-000").then(() => undefined, (error: any) => error.body))
      expect(refused).toMatchObject({ id: "two_factor" })
      yield* Effect.promise(() => heroku.delete("/apps/app-000", { headers: { "Heroku-Two-Factor-Code": "123456" } }))
      expect(fake.state.apps.size).toBe(1199)
    }))
})

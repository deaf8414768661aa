/**
 * The Postgres tools of `@agentloop/heroku-platform/Postgres` served over MCP (Streamable HTTP, the official
 * SDK client with elicitation), on the in-process fakes: listed by grant with their safety annotations,
 * approvals asked through elicitation, every call audited, no credential in any output.
 */
import { Toolkit } from "@agentloop/core"
import { AuditLog, Grant, HerokuClient, HerokuTools } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { Mcp } from "@agentloop/mcp"
import { FakeHerokuPlatform, FakeHerokuPostgres } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { sdkHttpClient } from "./support.js"

const PLANTED = "pl4nted-pg-pa55word-mcp"
const CREDENTIAL = "pl4nted-analyst-pa55-mcp"

describe("the Postgres tools over MCP", () => {
  it("lists the granted pg tools with annotations; reads run, an upgrade is asked by elicitation (declined, then approved); all audited, no password anywhere", async () => {
    const grant = Grant.make({ agent: "pg-mcp", access: { postgres: "full", apps: "read" }, apps: ["shop"] })
    const entries: Array<AuditLog.Entry> = []
    const outputs: Array<string> = []
    const listed: Array<{ name: string; annotations?: unknown }> = []
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const platform = yield* FakeHerokuPlatform.make()
          const data = yield* FakeHerokuPostgres.make({ platform })
          const shop = platform.addApp("shop")
          yield* Effect.promise(() =>
            fetch(`${platform.url}/apps/shop/addons`, {
              method: "POST",
              headers: { Accept: "application/vnd.heroku+json; version=3", Authorization: "Bearer test-token", "Content-Type": "application/json" },
              body: JSON.stringify({ plan: "heroku-postgresql:essential-0", name: "postgresql-shop-1" })
            })
          )
          platform.state.configVars.get(shop["id"])!["DATABASE_URL"] = `postgres://shop_user:${PLANTED}@db.internal:5432/shop`
          const addonId = platform.state.addons.get(shop["id"])![0]!["id"] as string
          data.database(addonId).credentials = [{ name: "analyst", state: "active", users: [{ user: "analyst", password: CREDENTIAL, state: "active", connections: 0 }] }]

          const toolkit = Toolkit.merge(HerokuTools.toolkit(grant), Postgres.toolkit(grant))
          const token = Redacted.make("test-token")
          const context = yield* Layer.build(
            Layer.merge(HerokuTools.layer(grant), Postgres.layer(grant)).pipe(
              Layer.provideMerge(
                Layer.mergeAll(
                  AuditLog.layer((entry) => Effect.sync(() => void entries.push(entry))),
                  HerokuClient.layer({ token, baseUrl: platform.url }),
                  Postgres.layerDataClient({ token, baseUrl: data.url })
                )
              ),
              Layer.provide(NodeHttpClient.layerUndici)
            )
          )
          const bearer = "pg-mcp-test-token-0123456789"
          const handle = yield* Mcp.serve(toolkit, {
            name: "agentloop-heroku",
            transport: { http: { token: bearer } },
            annotations: (tool) => HerokuTools.annotations(tool.name) ?? Postgres.annotations(tool.name)
          }).pipe(Effect.provide(context))
          let approve = false
          const { client, call } = yield* sdkHttpClient(handle.url!, bearer, { name: "dba-console", answer: () => ({ approve, reason: "PG 17 window" }), outputs })
          listed.push(...(yield* Effect.promise(() => client.listTools())).tools)
          const info = yield* call("heroku_pg_info", { app: "shop" })
          expect(info.isError).toBe(false)
          expect(JSON.parse(info.text)).toMatchObject({ databases: [{ addon: { name: "postgresql-shop-1" }, plan: "essential-0" }] })
          const credentials = yield* call("heroku_pg_credentials", { app: "shop" })
          expect(JSON.parse(credentials.text).credentials.map((c: { users: Array<{ user: string }> }) => c.users[0]!.user)).toEqual(["shop_user", "analyst"])
          const declined = yield* call("heroku_pg_upgrade", { app: "shop", version: "17" })
          expect(declined.isError).toBe(true)
          approve = true
          const upgraded = yield* call("heroku_pg_upgrade", { app: "shop", version: "17" })
          expect(upgraded.isError).toBe(false)
          const outside = yield* call("heroku_pg_info", { app: "billing" })
          expect(outside).toMatchObject({ isError: true })
          expect(data.requests.filter((r) => r.method === "POST").map((r) => r.body)).toEqual([{ version: "17" }])
        })
      )
    )
    expect(listed.map((t) => t.name)).toEqual([...HerokuTools.toolkit(grant).names, ...Postgres.toolkit(grant).names])
    expect(Object.fromEntries(listed.map((t) => [t.name, t.annotations]))).toMatchObject({
      heroku_pg_info: { readOnlyHint: true, destructiveHint: false },
      heroku_pg_psql_write: { readOnlyHint: false, destructiveHint: true },
      heroku_pg_kill: { readOnlyHint: false, destructiveHint: true }
    })
    expect(entries.map((e) => [e.tool, e.app, e.kind, e.decision, e.outcome, e.by])).toEqual([
      ["heroku_pg_info", "shop", "intent", "allowed", "pending", undefined],
      ["heroku_pg_info", "shop", "outcome", "allowed", "success", undefined],
      ["heroku_pg_credentials", "shop", "intent", "allowed", "pending", undefined],
      ["heroku_pg_credentials", "shop", "outcome", "allowed", "success", undefined],
      ["heroku_pg_upgrade", "shop", "refusal", "denied", "not_run", "dba-console"],
      ["heroku_pg_upgrade", "shop", "intent", "approved", "pending", "dba-console"],
      ["heroku_pg_upgrade", "shop", "outcome", "approved", "success", "dba-console"],
      ["heroku_pg_info", "billing", "refusal", "refused", "not_run", "grant"]
    ])
    for (const text of [...outputs, ...entries.map((e) => JSON.stringify(e))]) {
      expect(text).not.toContain(PLANTED)
      expect(text).not.toContain(CREDENTIAL)
    }
  }, 60_000)
})

/**
 * Opt-in: read-only calls against the real Heroku Platform API. Runs only when HEROKU_API_KEY is set;
 * it never writes.
 */
import { AuditLog, Grant, HerokuClient, HerokuTools } from "@agentloop/heroku-platform"
import { Toolkit } from "@agentloop/core"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import { describe, expect, it } from "vitest"

const token = process.env["HEROKU_API_KEY"]

describe.skipIf(token === undefined || token === "")("live Heroku Platform API (HEROKU_API_KEY)", () => {
  it("reads the account and the rate-limit pool through the tools", async () => {
    const grant = Grant.make({ access: { account: "read", apps: "read" } })
    const program = Effect.gen(function* () {
      const resolved = yield* Toolkit.resolve(HerokuTools.toolkit(grant))
      const context = { runId: "live", toolCallId: "c1", idempotencyKey: "live:c1" }
      const account = yield* Toolkit.execute(resolved, { name: "heroku_account_info", args: {} }, context)
      const limits = yield* Toolkit.execute(resolved, { name: "heroku_rate_limits_info", args: {} }, context)
      const apps = yield* Toolkit.execute(resolved, { name: "heroku_apps_list", args: { max: 5 } }, context)
      return { account, limits, apps }
    }).pipe(
      Effect.provide(
        HerokuTools.layer(grant).pipe(
          Layer.provide(
            Layer.merge(
              HerokuClient.layer({ token: Redacted.make(token!) }).pipe(Layer.provide(NodeHttpClient.layerUndici)),
              AuditLog.layerMemory
            )
          )
        )
      )
    )
    const { account, limits, apps } = await Effect.runPromise(program)
    expect(account.isError, account.content).toBe(false)
    expect(limits.value).toMatchObject({ remaining: expect.any(Number) })
    expect(apps.isError, apps.content).toBe(false)
  })
})

/** Credential parts of known secrets (a database URL's password) are scrubbed wherever they are printed alone. */
import { AuditLog, Grant, HerokuTools, Redaction } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { clientLayer, execute } from "./support.js"

const DB_PASSWORD = "Pl4ntedPassw0rdFragment77"
const REDIS_PASSWORD = "R3disPl4nted/secret99"
const CONNINFO_PASSWORD = "C0nninfoPl4nted55"
const UNKNOWN_LABELLED = "Unkn0wnButLabelled42"

const config = {
  DATABASE_URL: `postgres://u8ab3kqx:${DB_PASSWORD}@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9x2`,
  REDIS_URL: `rediss://:${encodeURIComponent(REDIS_PASSWORD)}@ec2-5-6-7-8.compute-1.amazonaws.com:6379`,
  LEGACY_DB: `host=db.example.com sslmode=require password=${CONNINFO_PASSWORD}`,
  LOG_LEVEL: "info"
}

describe("redaction of credential parts", () => {
  it("credentialParts finds each URL's password and each credential parameter, as written and decoded", () => {
    expect(Redaction.credentialParts(config.DATABASE_URL)).toEqual([DB_PASSWORD, DB_PASSWORD])
    expect(Redaction.credentialParts(config.REDIS_URL)).toEqual([encodeURIComponent(REDIS_PASSWORD), REDIS_PASSWORD])
    expect(Redaction.credentialParts(config.LEGACY_DB)).toEqual([CONNINFO_PASSWORD, CONNINFO_PASSWORD])
    expect(Redaction.credentialParts("https://example.com/x?a=1")).toEqual([])
  })

  it("a known URL's password is scrubbed when printed alone; credentials in prose or env form are scrubbed unknown", () => {
    const secrets = Redaction.known(Object.values(config))
    const lines = [
      `db password is ${DB_PASSWORD}`,
      `retrying with ${DB_PASSWORD} as the credential`,
      `PGPASSWORD=${DB_PASSWORD} psql`,
      `redis auth ${REDIS_PASSWORD} failed`,
      `redis auth ${encodeURIComponent(REDIS_PASSWORD)} failed`,
      `conninfo secret ${CONNINFO_PASSWORD}`,
      `{"password": "${UNKNOWN_LABELLED}"}`,
      `DB_PASSWORD: ${UNKNOWN_LABELLED}`,
      `the password was ${UNKNOWN_LABELLED}`
    ]
    for (const line of lines) {
      const scrubbed = Redaction.text(line, secrets)
      for (const secret of [DB_PASSWORD, REDIS_PASSWORD, encodeURIComponent(REDIS_PASSWORD), CONNINFO_PASSWORD, UNKNOWN_LABELLED]) {
        expect(scrubbed.includes(secret), `${line} -> ${scrubbed}`).toBe(false)
      }
      expect(scrubbed).toContain("[REDACTED]")
    }
    // Ordinary words around "password" stay readable.
    expect(Redaction.text("password authentication failed for user", secrets)).toBe("password authentication failed for user")
  })

  it.live("planted: a log line printing a config var's password reaches neither the model nor the audit", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const app = fake.addApp("alpha", { config })
      for (const line of [
        `app[web.1]: db password is ${DB_PASSWORD}`,
        `app[web.1]: retrying with ${DB_PASSWORD}`,
        `app[worker.1]: PGPASSWORD=${DB_PASSWORD} psql -h ec2`,
        `app[web.1]: redis auth ${REDIS_PASSWORD} failed`,
        `app[web.1]: legacy ${CONNINFO_PASSWORD}`
      ]) {
        fake.state.logs.get(app["id"])!.push(`2025-01-01T00:00:00Z ${line}`)
      }
      fake.inject({ status: 422, path: /formation\/web$/, body: { id: "invalid_params", message: `cannot use ${DB_PASSWORD} here` } })
      const grant = Grant.make({ access: { logs: "read", formation: "full" } })
      const { outputs, audit } = yield* Effect.gen(function* () {
        const logs = yield* execute(grant, "heroku_logs_read", { app: "alpha" })
        const failed = yield* execute(grant, "heroku_formation_update", { app: "alpha", type: "web", quantity: 2 }, "oncall")
        return { outputs: [logs, failed], audit: yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries) }
      }).pipe(Effect.provide(HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), AuditLog.layerMemory)))))
      expect((outputs[0]!.value as { lines: string }).lines).toContain("db password is [REDACTED]")
      expect(outputs[1]!.value).toMatchObject({ error: { error: "HerokuInvalidParams" } })
      const everything = JSON.stringify({ outputs, audit })
      for (const secret of [DB_PASSWORD, REDIS_PASSWORD, encodeURIComponent(REDIS_PASSWORD), CONNINFO_PASSWORD]) {
        expect(everything.includes(secret), secret).toBe(false)
      }
    }))
})

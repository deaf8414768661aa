/**
 * The Postgres server of the cross-process tests. `.ci/run` installs Debian's postgresql, starts it on
 * loopback and sets AGENTLOOP_TEST_PG_URL. Without a server that accepts connections the Postgres tests are
 * skipped, and say so.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { reachable } from "./spawn.js"

export const pgUrl = process.env["AGENTLOOP_TEST_PG_URL"] ?? "postgres://postgres:agentloop@127.0.0.1:5432/agentloop_test"
export const pgReachable = await reachable(pgUrl)
if (!pgReachable) {
  console.warn(`Skipping the Postgres durable tests: no PostgreSQL server accepts connections at ${new URL(pgUrl).host} (set AGENTLOOP_TEST_PG_URL, or run .ci/run, which installs and starts one).`)
}

/**
 * The cluster gets a database of its own (`<database>_cluster`, created if missing): a single runner and
 * a cluster are two deployments, and a single runner's row in the runners table would be taken for a
 * cluster member.
 */
export const clusterDatabase = async () => {
  if (!pgReachable) return pgUrl
  const url = new URL(pgUrl)
  const name = `${url.pathname.slice(1) || "postgres"}_cluster`
  await Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const found = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
      // Another test file may create it at the same moment: "already exists" is fine.
      if (found.length === 0) yield* Effect.ignore(sql.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`))
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl) })), Effect.scoped)
  )
  url.pathname = `/${name}`
  return url.toString()
}


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

/** Runs SQL on the server's `pgUrl` database (to create or drop others). */
const onServer = (statement: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* statement(yield* SqlClient.SqlClient)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl) })), Effect.scoped)
  )

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`

/** The URL of database `name` on the same server, created if missing. */
export const createDatabase = async (name: string) => {
  await onServer((sql) =>
    Effect.gen(function* () {
      const found = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
      // Another test file may create it at the same moment: "already exists" is fine.
      if (found.length === 0) yield* Effect.ignore(sql.unsafe(`CREATE DATABASE ${quoted(name)}`))
    })
  )
  const url = new URL(pgUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Drops database `name` (its sessions are ended first). */
export const dropDatabase = (name: string) => onServer((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${quoted(name)} WITH (FORCE)`))

/**
 * The cluster gets a database of its own (`<database>_cluster`, created if missing): a single runner and
 * a cluster are two deployments, and a single runner's row in the runners table would be taken for a
 * cluster member.
 */
export const clusterDatabase = async () => (pgReachable ? createDatabase(`${new URL(pgUrl).pathname.slice(1) || "postgres"}_cluster`) : pgUrl)

/**
 * Acceptance: durable runs across processes on Postgres with one runner (the shared scenarios, see
 * scenarios.ts), and one runner per database: a second one is refused at start with `DatabaseLocked`. Skipped, and saying so, without a Postgres server (see postgres.ts).
 */
import { describe } from "vitest"
import { pgReachable, pgUrl } from "./postgres.js"
import { oneOwner, scenarios } from "./scenarios.js"

describe.skipIf(!pgReachable)("durable runs across processes: Postgres", () => {
  scenarios("postgres", () => pgUrl)
  oneOwner("postgres", () => pgUrl)
})

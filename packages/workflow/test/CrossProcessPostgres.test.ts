/**
 * Acceptance: durable runs across processes on Postgres with one runner (the shared scenarios, see
 * scenarios.ts). Skipped, and saying so, without a Postgres server (see postgres.ts).
 */
import { describe } from "vitest"
import { pgReachable, pgUrl } from "./postgres.js"
import { scenarios } from "./scenarios.js"

describe.skipIf(!pgReachable)("durable runs across processes: Postgres", () => {
  scenarios("postgres", () => pgUrl)
})

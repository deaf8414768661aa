/**
 * Acceptance: a run that hands off, then suspends on the target's approval, run durably across processes on
 * SQLite and on Postgres with one runner (see handoffScenarios.ts; the Postgres part is skipped without a server).
 */
import { join } from "node:path"
import { describe } from "vitest"
import { handoffScenarios } from "./handoffScenarios.js"
import { pgReachable, pgUrl } from "./postgres.js"
import { dir } from "./scenarios.js"

describe("handoffs, durable across processes: SQLite", () => {
  handoffScenarios("sqlite", (name) => join(dir, `${name}.db`))
})

describe.skipIf(!pgReachable)("handoffs, durable across processes: Postgres", () => {
  handoffScenarios("postgres", () => pgUrl)
})

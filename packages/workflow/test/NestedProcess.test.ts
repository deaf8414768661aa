/**
 * Acceptance: a parent whose sub-agent asks for the approval, run durably across processes on SQLite and
 * on Postgres with one runner (see nestedScenarios.ts; the Postgres part is skipped without a server).
 */
import { join } from "node:path"
import { describe } from "vitest"
import { nestedScenarios } from "./nestedScenarios.js"
import { pgReachable, pgUrl } from "./postgres.js"
import { dir } from "./scenarios.js"

describe("sub-agent approvals, durable across processes: SQLite", () => {
  nestedScenarios("sqlite", (name) => join(dir, `${name}.db`))
})

describe.skipIf(!pgReachable)("sub-agent approvals, durable across processes: Postgres", () => {
  nestedScenarios("postgres", () => pgUrl)
})

/**
 * Acceptance: durable runs across processes on SQLite (the shared scenarios, see scenarios.ts), and one
 * owner per database file: a second process on the file is refused at start with `DatabaseLocked`.
 */
import { join } from "node:path"
import { describe } from "vitest"
import { dir, oneOwner, scenarios } from "./scenarios.js"

describe("durable runs across processes: SQLite", () => {
  scenarios("sqlite", (name) => join(dir, `${name}.db`))
  oneOwner("sqlite", (name) => join(dir, `${name}.db`))

})

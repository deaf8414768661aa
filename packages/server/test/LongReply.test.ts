/**
 * One model reply of thousands of text chunks, served over HTTP (reported: 9,000 chunks took 28 s, ~3 ms a
 * chunk, where the core alone takes ~50 ms). Every event the server serves is redacted first, and a secret-shape
 * pattern (credentials in a URL) rescanned each long run of letters to its end: quadratic in a chunk's length,
 * measured through this server at ~4 ms per 1,000-letter chunk and ~33 ms per 3,000-letter one, and the final
 * answer (all the chunks in one string, redacted once more) was worse still. The pattern is linear now (core
 * `Redaction`, see its own test): these 3,000 chunks of 3,000 letters stream in about a second, where the
 * quadratic version cannot finish within the default test timeout (30 s).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { json, startRun, startServer, type TestServer, textAgent } from "./support.js"

const chunkCount = 3000
const chunkLength = 3000
/** Lines of a hex dump: long runs of letters and digits, the shape that almost matches `scheme://`. */
const chunks = Array.from({ length: chunkCount }, (_, i) => `${i.toString(16).padStart(8, "0")}${"deadbeef".repeat(chunkLength / 8 - 1)}\n`)

describe("a long reply through the server", () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer({ writer: textAgent(chunks) })
  })
  afterAll(() => server.close())

  it("streams 3,000 chunks of 3,000 letters within the default test timeout, each frame the size of its own chunk", async () => {
    const run = await startRun(server.url, "writer", "dump it")
    const deltas = run.frames.filter((f) => f.event === "TextDelta")
    expect(deltas.map((f) => f.data.delta)).toEqual(chunks)
    expect(run.frames.map((f) => f.id)).toEqual(run.frames.map((_, i) => String(i + 1)))
    expect(run.outcome).toMatchObject({ _tag: "Completed", text: chunks.join("") })
    // What a frame carries does not grow with its number (no accumulated text in it).
    const sizes = deltas.map((f) => JSON.stringify(f.data).length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(8)
    // Nothing per delta in the audit trail either: start and finish.
    const audit = await json(`${server.url}/api/runs/${run.runId}/audit`, { who: "viewer" })
    expect(audit.body.entries.map((e: { kind: string }) => e.kind)).toEqual(["run_started", "run_finished"])
  })
})

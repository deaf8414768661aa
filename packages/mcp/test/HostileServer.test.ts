/**
 * A hostile MCP server (test/fixtures/hostile-server.mjs, JSON-RPC by hand) against `Mcp.toolkit`: each
 * misbehaviour is a typed error after a bounded wait, and the session, the server process and the other calls
 * are unharmed.
 */
import { fileURLToPath } from "node:url"
import { Toolkit } from "@agentloop/core"
import { Mcp, McpError } from "@agentloop/mcp"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { fixtureLog, runAgent } from "./support.js"

const hostilePath = fileURLToPath(new URL("./fixtures/hostile-server.mjs", import.meta.url))

const hostile = (log: string, list?: string) =>
  Mcp.stdio(process.execPath, [hostilePath], { name: "hostile", env: { FIXTURE_LOG: log, ...(list === undefined ? {} : { HOSTILE_LIST: list }) } })

const context = (id: string) => ({ runId: "r", toolCallId: id, idempotencyKey: id })

/** The hostile server with its normal tool list, connected, its tools ready to execute. */
const connected = Effect.gen(function* () {
  const log = fixtureLog()
  const mcp = yield* Mcp.toolkit(hostile(log.file))
  const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
  return { log, mcp, pid: mcp.pid(), resolved }
})

describe("Mcp.toolkit against a hostile server: listing", () => {
  it.live("endless pagination (a fresh cursor on every page) is McpProtocolError after maxListPages pages", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const error = yield* Effect.flip(Effect.scoped(Mcp.toolkit(hostile(log.file, "endless"), { retries: 0 })))
      if (!(error instanceof McpError.McpProtocolError)) return expect.fail(`expected McpProtocolError, got ${error._tag}`)
      expect(error.message).toBe("tools/list refused: it did not end within 100 pages.")
      expect(log.lines().filter((l) => l.startsWith("list "))).toHaveLength(100)
      const fewer = yield* Effect.flip(Effect.scoped(Mcp.toolkit(hostile(fixtureLog().file, "endless"), { retries: 0, maxListPages: 5 })))
      expect(fewer.message).toBe("tools/list refused: it did not end within 5 pages.")
    })
  )

  it.live("a cursor that comes back is McpProtocolError (no loop)", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const error = yield* Effect.flip(Effect.scoped(Mcp.toolkit(hostile(log.file, "circle"), { retries: 0 })))
      expect(error).toBeInstanceOf(McpError.McpProtocolError)
      // Pages 0 (no cursor), 1, 2, then 0 again, which hands out "1" a second time.
      expect(error.message).toBe('tools/list refused: it repeated the cursor "1".')
      expect(log.lines().filter((l) => l.startsWith("list "))).toEqual(["list 0", "list 1", "list 2", "list 0"])
    })
  )

  it.live("more tools than maxTools is McpProtocolError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Effect.scoped(Mcp.toolkit(hostile(fixtureLog().file, "flood"), { retries: 0 })))
      expect(error).toBeInstanceOf(McpError.McpProtocolError)
      expect(error.message).toBe("tools/list refused: it listed more than 1000 tools.")
    })
  )

  it.live('a tool named "" is McpProtocolError, not a defect', () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Effect.scoped(Mcp.toolkit(hostile(fixtureLog().file, "nameless"), { retries: 0 })))
      expect(error).toBeInstanceOf(McpError.McpProtocolError)
      expect(error.message).toBe("tools/list refused: tool #6 has an empty name.")
    })
  )

  it.live("tools named toString, constructor, valueOf, hasOwnProperty and __proto__ are listed and called", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(hostile(log.file, "proto"))
      const names = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"]
      expect(mcp.toolkit.names).toEqual(["echo", "slow", "deep", "malformed", "pid", ...names])
      const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
      for (const name of names) {
        expect(yield* Toolkit.execute(resolved, { name, args: {} }, context(name))).toMatchObject({ isError: false, content: `${name} ran` })
      }
      expect(log.lines().filter((l) => l.startsWith("call ")).map((l) => l.split(" ")[1])).toEqual(names)
    })
  )
})

describe("Mcp.toolkit against a hostile server: results", () => {
  it.live("a result nested 10,000 deep is an InvalidResult error of that call; the run, the server and the next call are unharmed", () =>
    Effect.gen(function* () {
      const { log, mcp, pid, resolved } = yield* connected
      const deep = yield* Toolkit.execute(resolved, { name: "deep", args: { depth: 10_000 } }, context("d"))
      expect(deep).toMatchObject({ isError: true, errorKind: "InvalidResult" })
      expect(deep.content).toBe('Tool "deep" returned a result that cannot be written as JSON: it is nested too deeply')
      expect(yield* Toolkit.execute(resolved, { name: "pid", args: {} }, context("p"))).toMatchObject({ isError: false, content: String(pid) })
      expect(mcp.pid()).toBe(pid)
      // Through the loop: the run completes, with the error as that call's result.
      const { outcome, results } = yield* runAgent(mcp, [
        ScriptedModel.toolCall("deep", { depth: 10_000 }),
        ScriptedModel.toolCall("pid", {}),
        ScriptedModel.text("done")
      ])
      expect(outcome._tag).toBe("Completed")
      expect(results.map((r) => [r.toolName, r.errorKind])).toEqual([["deep", "InvalidResult"], ["pid", undefined]])
      expect(log.lines().filter((l) => l.startsWith("start "))).toHaveLength(1)
    })
  )

  it.live("a malformed result is McpProtocolError for that call only: a call in flight finishes, nothing is respawned (20 rounds)", () =>
    Effect.gen(function* () {
      const { log, pid, resolved } = yield* connected
      for (let round = 1; round <= 20; round++) {
        const [slow, malformed] = yield* Effect.all(
          [
            Toolkit.execute(resolved, { name: "slow", args: { ms: 150 } }, context(`s${round}`)),
            Effect.andThen(Effect.sleep("20 millis"), Toolkit.execute(resolved, { name: "malformed", args: {} }, context(`m${round}`)))
          ],
          { concurrency: "unbounded" }
        )
        expect(slow).toMatchObject({ isError: false, content: "slept 150" })
        expect(malformed).toMatchObject({ isError: true, errorKind: "ToolFailed" })
        const error = JSON.parse(malformed.content).error
        expect(error).toMatchObject({ _tag: "McpProtocolError", server: "hostile", tool: "malformed" })
        expect(error.message).toMatch(/^The server's answer is not a valid tools\/call result \(content: .+\)\.$/)
      }
      expect(yield* Toolkit.execute(resolved, { name: "pid", args: {} }, context("p"))).toMatchObject({ isError: false, content: String(pid) })
      expect(log.lines().filter((l) => l.startsWith("start "))).toEqual([`start ${pid}`])
      expect(log.lines().filter((l) => l.startsWith("slow done "))).toHaveLength(20)
    })
  , 60_000)
})

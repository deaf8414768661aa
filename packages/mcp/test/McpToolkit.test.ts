import { AgentBackend, Approval, RunStore, Toolkit, ToolRule } from "@agentloop/core"
import { Mcp, McpError, McpToolkit } from "@agentloop/mcp"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { ServedTools, servedHandlers } from "./fixtures/tools.js"
import { alive, eventually, fixtureConnection, fixtureLog, runAgent } from "./support.js"

describe("Mcp.toolkit over stdio (a fixture server written with the official SDK)", () => {
  it.live("lists every page of tools and maps names, schemas and annotations", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file))
      expect(mcp.toolkit.names).toEqual(["echo", "delete_item", "slow", "crash", "fail", "structured", "pid", "add_tool", "ns_dotted"])
      expect(log.lines().filter((l) => l.startsWith("list "))).toEqual(["list 0", "list 2", "list 4", "list 6", "list 8"])
      const tools = mcp.toolkit.tools
      expect(tools["echo"]!.definition.parameters).toEqual({ type: "object", properties: { text: { type: "string" } }, required: ["text"] })
      expect(tools["delete_item"]!.requiresApproval).toBe(true) // destructiveHint: true
      expect(tools["echo"]!.requiresApproval).toBe(false)
      expect(tools["echo"]!.parallel).toBe(true) // readOnlyHint: true
      expect(tools["slow"]!.parallel).toBe(false)
    })
  )

  it.live("runs MCP tools in the loop: results, isError, structured content, and tool rules", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file, { FIXTURE_SECRET: "sk-planted-1a2b3c" }))
      const { results } = yield* runAgent(
        mcp,
        [
          ScriptedModel.toolCall("pid", {}), // violates the init rule: never reaches the server
          ScriptedModel.toolCall("echo", { text: "hi" }),
          ScriptedModel.toolCalls([
            { name: "fail", args: {} },
            { name: "structured", args: {} },
            { name: "ns_dotted", args: {} }
          ]),
          ScriptedModel.text("done")
        ],
        { rules: [ToolRule.init("echo")] }
      )
      expect(results.map((r) => [r.toolName, r.isError, r.errorKind])).toEqual([
        ["pid", true, "RuleViolation"],
        ["echo", false, undefined],
        ["fail", true, "ToolFailed"],
        ["structured", false, undefined],
        ["ns_dotted", false, undefined]
      ])
      expect(results[1]!.content).toBe("echo: hi")
      expect(JSON.parse(results[2]!.content)).toMatchObject({ error: { _tag: "McpToolError", message: "the item is locked (key [REDACTED])", tool: "fail" } })
      expect(JSON.parse(results[3]!.content)).toEqual({ count: 2, items: ["a", "b"] })
      expect(results[4]!.content).toBe("dotted ran")
      expect(log.lines().filter((l) => l.startsWith("call "))).toEqual([
        'call echo {"text":"hi"}',
        "call fail {}",
        "call structured {}",
        "call ns.dotted {}"
      ])
    })
  )

  it.live("a destructive tool suspends for approval, runs once when approved and never when denied", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const deleted = () => log.lines().filter((l) => l.startsWith("deleted "))
      yield* Effect.gen(function* () {
        const model = ScriptedModel.make([ScriptedModel.toolCall("delete_item", { id: "a1" }), ScriptedModel.text("ok")])
        const layer = Mcp.layerLocal(fixtureConnection(log.file), McpToolkit.agent("ops")).pipe(
          Layer.provide(Layer.mergeAll(model.layerUnchecked, Approval.layerSuspend(), RunStore.layerMemory))
        )
        const backend = yield* Effect.map(Layer.build(layer), (context) => Context.get(context, AgentBackend.AgentBackend))
        const suspended = yield* backend.run({ input: "delete a1" })
        expect(suspended._tag).toBe("Suspended")
        expect(deleted()).toEqual([])
        if (suspended._tag !== "Suspended") return
        const finished = yield* backend.resume(suspended.runId, [Approval.approve(suspended.pending[0]!, { by: "alice" })])
        expect(finished._tag).toBe("Completed")
        expect(deleted()).toEqual(["deleted a1"])
      })
      const denied = yield* Effect.flatMap(Mcp.toolkit(fixtureConnection(log.file)), (mcp) =>
        runAgent(mcp, [ScriptedModel.toolCall("delete_item", { id: "b2" }), ScriptedModel.text("ok")], {
          approvals: Approval.layerDenyAll("not today")
        })
      )
      expect(denied.results[0]).toMatchObject({ isError: true, errorKind: "Denied" })
      expect(deleted()).toEqual(["deleted a1"])
    })
  )

  it.live("overrides win over annotations", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file), {
        tools: { delete_item: { requiresApproval: false }, echo: { requiresApproval: true, parallel: false } },
        prefix: "fx_"
      })
      expect(mcp.toolkit.tools["fx_delete_item"]!.requiresApproval).toBe(false)
      expect(mcp.toolkit.tools["fx_echo"]!.requiresApproval).toBe(true)
      expect(mcp.toolkit.tools["fx_echo"]!.parallel).toBe(false)
    })
  )

  it.live("a crash fails the running call with McpConnectionLost; the next call respawns the server", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file), { backoff: "20 millis" })
      const firstPid = mcp.pid()!
      const { results } = yield* runAgent(mcp, [
        ScriptedModel.toolCall("crash", {}),
        ScriptedModel.toolCall("pid", {}),
        ScriptedModel.text("ok")
      ])
      expect(JSON.parse(results[0]!.content)).toMatchObject({ error: { _tag: "McpConnectionLost", tool: "crash" } })
      expect(results[1]!.isError).toBe(false)
      const secondPid = Number(results[1]!.content)
      expect(secondPid).not.toBe(firstPid)
      expect(log.lines().filter((l) => l.startsWith("start "))).toEqual([`start ${firstPid}`, `start ${secondPid}`])
      expect(alive(firstPid)).toBe(false)
    })
  )

  it.live("20 concurrent calls after a crash respawn exactly one server (20 rounds)", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file), { backoff: "20 millis" })
      const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
      const call = (name: string) => Toolkit.execute(resolved, { name, args: {} }, { runId: "r", toolCallId: name, idempotencyKey: "k" })
      for (let round = 1; round <= 20; round++) {
        yield* call("crash")
        const results = yield* Effect.all(Array.from({ length: 20 }, () => call("pid")), { concurrency: "unbounded" })
        expect(results.every((r) => !r.isError)).toBe(true)
        expect(new Set(results.map((r) => r.content)).size).toBe(1)
        expect(log.lines().filter((l) => l.startsWith("start "))).toHaveLength(round + 1)
      }
    })
  , 120_000)

  it.live("a call past its timeout is cancelled on the server (notifications/cancelled) and reported as McpCallTimeout", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file), { tools: { slow: { timeout: "300 millis" } } })
      const { results } = yield* runAgent(mcp, [ScriptedModel.toolCall("slow", { ms: 60_000 }), ScriptedModel.text("ok")])
      expect(JSON.parse(results[0]!.content)).toMatchObject({ error: { _tag: "McpCallTimeout", timeoutMs: 300 } })
      yield* eventually(() => log.lines().some((l) => l.startsWith("cancelled ")))
      expect(log.lines()).not.toContain("slow finished")
    })
  )

  it.live("interrupting a call sends notifications/cancelled", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file))
      const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
      const fiber = yield* Effect.forkChild(
        Toolkit.execute(resolved, { name: "slow", args: { ms: 60_000 } }, { runId: "r", toolCallId: "c", idempotencyKey: "k" })
      )
      yield* eventually(() => log.lines().some((l) => l.startsWith("call slow")))
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => log.lines().some((l) => l.startsWith("cancelled ")))
      expect(log.lines()).not.toContain("slow finished")
    })
  )

  it.live("tools/list_changed updates the current toolkit, and a new run can call the new tool", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file))
      expect(mcp.toolkit.names).not.toContain("late_tool")
      const changed = yield* mcp.changes.pipe(
        Stream.filter((snapshot) => snapshot.toolkit.names.includes("late_tool")),
        Stream.runHead,
        Effect.forkChild
      )
      yield* runAgent(mcp, [ScriptedModel.toolCall("add_tool", {}), ScriptedModel.text("ok")])
      const snapshot = (yield* Fiber.join(changed)).pipe((o) => (o._tag === "Some" ? o.value : undefined))!
      expect(snapshot.toolkit.tools["late_tool"]!.parallel).toBe(true)
      expect((yield* mcp.current).toolkit.names).toContain("late_tool")
      const { results } = yield* runAgent(snapshot, [ScriptedModel.toolCall("late_tool", {}), ScriptedModel.text("ok")])
      expect(results[0]).toMatchObject({ isError: false, content: "late tool ran" })
    })
  )

  it.live("a server that cannot start is a typed McpStartFailed, after the retries, with its stderr", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Mcp.toolkit(fixtureConnection(log.file, { FIXTURE_FAIL_START: "1", FIXTURE_SECRET: "sk-planted-9f8e7d" }), { retries: 1, backoff: "10 millis" })
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      expect(String(error)).toContain("McpStartFailed")
      expect(String(error)).toContain("refusing to start")
      // The server echoed the secret we gave it in its env: it is hidden in our error.
      expect(String(error)).toContain("with key [REDACTED]")
      expect(String(error)).not.toContain("sk-planted-9f8e7d")
      const missing = yield* Effect.flip(Effect.scoped(Mcp.toolkit(Mcp.stdio("/nonexistent/mcp-server"), { retries: 0 })))
      expect(missing).toBeInstanceOf(McpError.McpStartFailed)
      expect(missing.server).toBe("/nonexistent/mcp-server")
    })
  )

  it.live("closing the scope ends the server process", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const scope = yield* Scope.make()
      const mcp = yield* Mcp.toolkit(fixtureConnection(log.file)).pipe(Scope.provide(scope))
      const pid = mcp.pid()!
      expect(alive(pid)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => !alive(pid))
    })
  )
})

describe("Mcp.toolkit over Streamable HTTP (our own server, in-process)", () => {
  const TOKEN = "toolkit-http-token-0123456789"

  it.live("calls with the bearer token; after the server restarts, a call reports McpConnectionLost and the next reconnects", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const serve = (port: number) =>
        Mcp.serve(ServedTools, { transport: { http: { token: TOKEN, port } } }).pipe(Effect.provide(servedHandlers(log.file)))
      const firstScope = yield* Scope.make()
      const first = yield* Scope.provide(serve(0), firstScope)
      const port = Number(new URL(first.url!).port)
      const mcp = yield* Mcp.toolkit(Mcp.http(first.url!, { token: TOKEN }), { backoff: "20 millis" })
      expect(mcp.toolkit.tools["wipe"]!.requiresApproval).toBe(true) // destructiveHint from our server's annotations
      const call = (name: string, args: Record<string, unknown>) =>
        runAgent(mcp, [ScriptedModel.toolCall(name, args), ScriptedModel.text("ok")]).pipe(Effect.map(({ results }) => results[0]!))
      expect(yield* call("greet", { name: "one" })).toMatchObject({ isError: false, content: "Hello, one!" })
      yield* Scope.close(firstScope, Exit.void)
      yield* Scope.provide(serve(port), yield* Effect.scope)
      const lost = yield* call("greet", { name: "two" })
      expect(JSON.parse(lost.content)).toMatchObject({ error: { _tag: "McpConnectionLost" } })
      expect(yield* call("greet", { name: "three" })).toMatchObject({ isError: false, content: "Hello, three!" })
      expect(log.lines()).toEqual(["greet one", "greet three"])
    })
  )

  it.live("a wrong bearer token is McpStartFailed", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const error = yield* Effect.scoped(
        Effect.flatMap(
          Mcp.serve(ServedTools, { transport: { http: { token: TOKEN } } }).pipe(Effect.provide(servedHandlers(log.file))),
          (handle) => Effect.flip(Mcp.toolkit(Mcp.http(handle.url!, { token: "not-the-token-0123456789" }), { retries: 0 }))
        )
      )
      expect(error).toBeInstanceOf(McpError.McpStartFailed)
      if (!(error instanceof McpError.McpStartFailed)) return
      expect(error.reason).toContain("Unauthorized")
      expect(error.reason).not.toContain("not-the-token")
    })
  )
})

/**
 * Elicitation in our client: the pure rules (SEP-1034 defaults, validation naming the field, what an approval
 * request looks like), then end to end, `Mcp.toolkit` against our own `Mcp.serve` with a gated tool (approve,
 * deny, cancel, an invalid answer, a slow handler, no handler, the agent's `Approvals` policy, concurrent
 * calls, a stream the server closes mid-call) and against a server that sends an invalid schema.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Approval, Toolkit } from "@agentloop/core"
import { Mcp, McpElicitation } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ElicitResultSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { type Duration, Effect, Layer, Result } from "effect"
import { ServedTools, servedHandlers } from "./fixtures/tools.js"
import { fixtureLog, runAgent } from "./support.js"
import { ScriptedModel } from "@agentloop/testing"

const TOKEN = "elicitation-test-token-0123456789"

const SEP1034: McpElicitation.RequestedSchema = {
  type: "object",
  properties: {
    name: { type: "string", default: "John Doe" },
    age: { type: "integer", default: 30, minimum: 0 },
    score: { type: "number", default: 95.5 },
    status: { type: "string", enum: ["active", "inactive", "pending"], default: "active" },
    verified: { type: "boolean", default: true },
    email: { type: "string", format: "email" },
    tags: { type: "array", items: { type: "string", enum: ["a", "b"] }, maxItems: 1 }
  },
  required: ["name", "age"]
}

describe("elicitation answers (pure)", () => {
  it("SEP-1034: fields left out get the schema's defaults; given ones are kept", () => {
    const result = McpElicitation.validate("s", SEP1034, { name: "Ada" })
    expect(Result.getOrThrow(result)).toEqual({ name: "Ada", age: 30, score: 95.5, status: "active", verified: true })
  })

  it("content that does not fit is a McpElicitationInvalid naming the field and the reason", () => {
    const cases: ReadonlyArray<[Record<string, unknown>, string, string]> = [
      [{ age: "30" }, "age", "expected a finite number, got string"],
      [{ age: 1.5 }, "age", "expected an integer, got 1.5"],
      [{ age: -1 }, "age", "must be at least 0, got -1"],
      [{ status: "gone" }, "status", `"gone" is not one of ["active","inactive","pending"]`],
      [{ verified: "yes" }, "verified", "expected a boolean, got string"],
      [{ email: "nope" }, "email", "not a valid email"],
      [{ tags: ["a", "b"] }, "tags", "at most 1 items expected, got 2"],
      [{ tags: ["c"] }, "tags", `"c" is not one of ["a","b"]`],
      [{ extra: 1 }, "extra", "not a field of the requested schema"]
    ]
    for (const [content, field, reason] of cases) {
      const result = McpElicitation.validate("fixture", SEP1034, content)
      expect(Result.isFailure(result) && { _tag: result.failure._tag, part: result.failure.part, field: result.failure.field, reason: result.failure.reason }).toEqual({
        _tag: "McpElicitationInvalid",
        part: "answer",
        field,
        reason
      })
    }
    const missing = McpElicitation.validate("fixture", { type: "object", properties: { code: { type: "string" } }, required: ["code"] }, {})
    expect(Result.isFailure(missing) && missing.failure.message).toBe(
      `The elicitation answer for fixture does not fit the requested schema: field "code": required, and the schema gives no default`
    )
  })

  it("decline and cancel are sent without content; an approval request is one boolean and optional strings", () => {
    expect(Result.getOrThrow(McpElicitation.respond({ server: "s", requestedSchema: SEP1034 }, McpElicitation.decline))).toEqual({ action: "decline" })
    expect(Result.getOrThrow(McpElicitation.respond({ server: "s", requestedSchema: SEP1034 }, McpElicitation.cancel))).toEqual({ action: "cancel" })
    expect(
      McpElicitation.approvalField({
        type: "object",
        properties: { approve: { type: "boolean" }, reason: { type: "string" } },
        required: ["approve"]
      })
    ).toEqual({ approve: "approve", reason: "reason" })
    expect(McpElicitation.approvalField({ type: "object", properties: { confirm: { type: "boolean" } } })).toEqual({ approve: "confirm", reason: undefined })
    // A form with two booleans, a required text or an enum is not an approval: an agent cannot fill it in.
    expect(McpElicitation.approvalField(SEP1034)).toBeUndefined()
    expect(
      McpElicitation.approvalField({ type: "object", properties: { ok: { type: "boolean" }, wipe: { type: "boolean" } } })
    ).toBeUndefined()
    expect(
      McpElicitation.approvalField({ type: "object", properties: { ok: { type: "boolean" }, code: { type: "string" } }, required: ["code"] })
    ).toBeUndefined()
  })
})

/** Our server with the fixture tools (`wipe` needs approval, asked by elicitation); its event log. */
const ourServer = (closeStreamAfter?: Duration.Input) =>
  Effect.gen(function* () {
    const log = fixtureLog()
    const handle = yield* Mcp.serve(ServedTools, {
      approvalTimeout: "5 seconds",
      ...(closeStreamAfter === undefined ? {} : { closeStreamAfter }),
      transport: { http: { token: TOKEN, replay: { retry: "30 millis" } } }
    }).pipe(Effect.provide(servedHandlers(log.file)))
    return { url: handle.url!, log }
  })

/** Our client with an elicitation handler; `wipe` called directly (no loop, so no local approval). */
const client = (url: string, options: Omit<Mcp.ToolkitOptions, "retries"> = {}) =>
  Effect.gen(function* () {
    const mcp = yield* Mcp.toolkit(Mcp.http(url, { token: TOKEN }), { retries: 0, ...options })
    const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
    let n = 0
    const wipe = (disk: string) =>
      Effect.suspend(() => {
        n++
        return Toolkit.execute(resolved, { name: "wipe", args: { disk } }, { runId: "run", toolCallId: `call_${n}`, idempotencyKey: `k${n}` })
      })
    return { mcp, wipe }
  })

describe("Mcp.toolkit answers elicitations of our own server", () => {
  it.live("approve, deny, cancel: the handler's answer decides the gated call, and it sees the call it belongs to", () =>
    Effect.gen(function* () {
      const { log, url } = yield* ourServer()
      const seen: Array<McpElicitation.Request> = []
      const answers: Record<string, McpElicitation.Answer> = {
        d1: McpElicitation.accept({ approve: true, reason: "fine" }),
        d2: McpElicitation.decline,
        d3: McpElicitation.cancel,
        d4: McpElicitation.accept({ approve: false, reason: "not that disk" })
      }
      const { wipe } = yield* client(url, {
        elicitation: (request) =>
          Effect.sync(() => {
            seen.push(request)
            return answers[request.call!.arguments["disk"] as string]!
          })
      })
      const approved = yield* wipe("d1")
      expect([approved.isError, approved.content]).toEqual([false, "wiped d1 (approved by agentloop)"])
      const declined = yield* wipe("d2")
      expect(declined.isError).toBe(true)
      expect(declined.content).toContain("declined the call")
      const cancelled = yield* wipe("d3")
      expect(cancelled.content).toContain("cancelled the call")
      const refused = yield* wipe("d4")
      expect(refused.content).toContain("not that disk")
      expect(log.lines()).toEqual(["wipe d1 by agentloop"])
      expect(seen.map((r) => [r.server, r.call?.tool, r.call?.remoteTool, r.call?.context.toolCallId])).toEqual([
        [url, "wipe", "wipe", "call_1"],
        [url, "wipe", "wipe", "call_2"],
        [url, "wipe", "wipe", "call_3"],
        [url, "wipe", "wipe", "call_4"]
      ])
      expect(seen[0]!.message).toContain('Allow the tool "wipe"')
    }).pipe(Effect.scoped)
  )

  /** A gated call with these client options is refused within 3 s with `expected` in its text; nothing ran. */
  const refusedAtOnce = (options: Omit<Mcp.ToolkitOptions, "retries">, expected: string) =>
    Effect.gen(function* () {
      const { log, url } = yield* ourServer()
      const { wipe } = yield* client(url, options)
      const started = Date.now()
      const result = yield* wipe("d1")
      expect(result.isError).toBe(true)
      expect(result.content).toContain(expected)
      expect(Date.now() - started).toBeLessThan(3_000)
      expect(log.lines()).toEqual([])
    }).pipe(Effect.scoped)

  it.live("an answer that does not fit the schema is not sent as accepted: the server gets an error naming the field, and the call is refused at once", () =>
    refusedAtOnce({ elicitation: () => Effect.succeed(McpElicitation.accept({ approve: "yes" })) }, "no approver answered")
  )

  it.live("a slow handler is bounded by elicitationTimeout: the answer is cancel and the call is refused, not hung", () =>
    refusedAtOnce(
      { elicitation: () => Effect.as(Effect.sleep("30 seconds"), McpElicitation.accept({ approve: true })), elicitationTimeout: "200 millis" },
      "cancelled the call"
    )
  )

  it.live("with no handler the client declares no elicitation: the gated call is refused at once, nothing hangs", () =>
    refusedAtOnce({}, "no approver answered")
  )

  it.live("fromApprovals: the agent's Approvals policy decides the server's approval requests, each for its own call (concurrent calls)", () =>
    Effect.gen(function* () {
      const { log, url } = yield* ourServer()
      const asked: Array<Approval.ApprovalRequest> = []
      const policy = Approval.layerPolicy((request) => {
        asked.push(request)
        const disk = request.arguments["disk"]
        return disk === "scratch"
          ? Approval.Verdict.approved({ by: "policy", reason: "scratch disks are fair game" })
          : disk === "later"
            ? Approval.Verdict.suspend()
            : Approval.Verdict.denied("never prod", { by: "policy" })
      })
      const handler = yield* McpElicitation.fromApprovals.pipe(Effect.provide(policy))
      const { wipe } = yield* client(url, { elicitation: handler })
      const [scratch, prod, later] = yield* Effect.all([wipe("scratch"), wipe("prod"), wipe("later")], { concurrency: "unbounded" })
      expect([scratch.isError, scratch.content]).toEqual([false, "wiped scratch (approved by agentloop)"])
      expect(prod.content).toContain("declined the call")
      expect(later.content).toContain("cancelled the call")
      expect(log.lines()).toEqual(["wipe scratch by agentloop"])
      expect(asked.map((r) => [r.toolName, r.arguments["disk"], r.runId]).sort()).toEqual([
        ["wipe", "later", "run"],
        ["wipe", "prod", "run"],
        ["wipe", "scratch", "run"]
      ])
    }).pipe(Effect.scoped)
  )

  it.live("fromApprovals through the loop: a call the agent's policy already approved is not asked twice; the server hears who approved it", () =>
    Effect.gen(function* () {
      const { log, url } = yield* ourServer()
      let decisions = 0
      const policy = Approval.layerPolicy(() => {
        decisions++
        return Approval.Verdict.approved({ by: "ops-policy" })
      })
      const handler = yield* McpElicitation.fromApprovals.pipe(Effect.provide(policy))
      const mcp = yield* Mcp.toolkit(Mcp.http(url, { token: TOKEN }), { retries: 0, elicitation: handler })
      const { results } = yield* runAgent(
        mcp,
        [ScriptedModel.toolCalls([{ name: "wipe", args: { disk: "d9" } }]), ScriptedModel.text("done")],
        { approvals: policy as Layer.Layer<Approval.Approvals> }
      )
      expect(results.map((r) => [r.toolName, r.isError, r.content])).toEqual([["wipe", false, "wiped d9 (approved by agentloop)"]])
      expect(decisions).toBe(1)
      expect(log.lines()).toEqual(["wipe d9 by agentloop"])
    }).pipe(Effect.scoped)
  )

  it.live("across streams the server closes mid-call (closeStreamAfter): the elicitation and the result each arrive once", () =>
    Effect.gen(function* () {
      const { log, url } = yield* ourServer("50 millis")
      let asked = 0
      const { wipe } = yield* client(url, {
        elicitation: () =>
          Effect.sync(() => asked++).pipe(Effect.andThen(Effect.sleep("200 millis")), Effect.as(McpElicitation.accept({ approve: true })))
      })
      const results = yield* Effect.all([wipe("a"), wipe("b")], { concurrency: "unbounded" })
      expect(results.map((r) => r.content).sort()).toEqual(["wiped a (approved by agentloop)", "wiped b (approved by agentloop)"])
      expect(asked).toBe(2)
      expect(log.lines().sort()).toEqual(["wipe a by agentloop", "wipe b by agentloop"])
    }).pipe(Effect.scoped)
  )
})

/** A raw SDK server (no token) whose `ask` tool elicits with the given params; the tool's text says how that went. */
const rawServer = (params: Record<string, unknown>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const server = new Server({ name: "raw", version: "1" }, { capabilities: { tools: {} } })
      server.setRequestHandler(ListToolsRequestSchema, () => ({
        tools: [{ name: "ask", inputSchema: { type: "object" as const, properties: {} }, annotations: { readOnlyHint: true } }]
      }))
      server.setRequestHandler(CallToolRequestSchema, async () => {
        try {
          const answer = await server.request({ method: "elicitation/create", params: params as never }, ElicitResultSchema, { timeout: 5_000 })
          return { content: [{ type: "text" as const, text: `answered ${JSON.stringify(answer)}` }] }
        } catch (error) {
          return { content: [{ type: "text" as const, text: `failed ${(error as Error).message}` }] }
        }
      })
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => crypto.randomUUID() })
      await server.connect(transport)
      const http = createServer((req, res) => void transport.handleRequest(req, res))
      await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()))
      return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, http, server }
    }),
    ({ http, server }) => Effect.promise(async () => (await server.close(), http.closeAllConnections(), http.close()))
  )

const ask = (url: string, elicitation?: McpElicitation.Handler) =>
  Effect.gen(function* () {
    const mcp = yield* Mcp.toolkit(Mcp.http(url), { retries: 0, ...(elicitation === undefined ? {} : { elicitation }) })
    const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
    return yield* Toolkit.execute(resolved, { name: "ask", args: {} }, { runId: "r", toolCallId: "c", idempotencyKey: "k" })
  })

describe("Mcp.toolkit against a server that elicits badly", () => {
  it("checkRequest names what a request gets wrong", () => {
    const reasons = [
      [{ mode: "url", message: "m", url: "https://x", elicitationId: "e" }, "mode"],
      [{ requestedSchema: { type: "object", properties: {} } }, "message"],
      [{ message: "m", requestedSchema: { type: "array" } }, "requestedSchema"],
      [{ message: "m", requestedSchema: { type: "object", properties: { n: { type: "string", enum: [1] } } } }, "n"],
      [{ message: "m", requestedSchema: { type: "object", properties: { n: { type: "string" } }, required: ["m"] } }, "requestedSchema"]
    ] as const
    for (const [params, field] of reasons) {
      const checked = McpElicitation.checkRequest("s", params)
      expect(Result.isFailure(checked) && [checked.failure.part, checked.failure.field]).toEqual(["request", field])
    }
    expect(Result.isSuccess(McpElicitation.checkRequest("s", { message: "m", requestedSchema: SEP1034 }))).toBe(true)
  })

  it.live("an invalid requested schema (a nested object) is refused with -32602 before the handler runs; the call ends", () =>
    Effect.gen(function* () {
      const { url } = yield* rawServer({
        message: "nested",
        requestedSchema: { type: "object", properties: { address: { type: "object", properties: { city: { type: "string" } } } } }
      })
      let called = 0
      const result = yield* ask(url, () => Effect.sync(() => (called++, McpElicitation.accept({}))))
      expect(result.content).toMatch(/^failed MCP error -32602: /u)
      expect(result.content).toContain(
        `The elicitation request of ${url} is not valid: field "address": type "object" is not allowed (string, number, integer, boolean, or an array of string options; no nesting)`
      )
      expect(called).toBe(0)
    }).pipe(Effect.scoped)
  )

  it.live("defaults from the server's schema fill an empty accept (SEP-1034), as the server receives it", () =>
    Effect.gen(function* () {
      const { url } = yield* rawServer({ message: "defaults", requestedSchema: SEP1034 })
      const result = yield* ask(url, () => Effect.succeed(McpElicitation.accept({})))
      expect(JSON.parse(result.content.replace(/^answered /u, ""))).toEqual({
        action: "accept",
        content: { name: "John Doe", age: 30, score: 95.5, status: "active", verified: true }
      })
    }).pipe(Effect.scoped)
  )

  it.live("an answer that does not fit reaches the server as an error naming the field, never as accepted content", () =>
    Effect.gen(function* () {
      const { url } = yield* rawServer({ message: "defaults", requestedSchema: SEP1034 })
      const result = yield* ask(url, () => Effect.succeed(McpElicitation.accept({ age: "thirty" })))
      expect(result.content).toMatch(/^failed MCP error -32603: /u)
      expect(result.content).toContain(`field "age": expected a finite number, got string`)
    }).pipe(Effect.scoped)
  )

  it.live("with no handler, a server that elicits anyway gets an error at once: nothing hangs", () =>
    Effect.gen(function* () {
      const { url } = yield* rawServer({ message: "defaults", requestedSchema: SEP1034 })
      const started = Date.now()
      const result = yield* ask(url)
      expect(result.content).toMatch(/^failed /u)
      expect(Date.now() - started).toBeLessThan(3_000)
    }).pipe(Effect.scoped)
  )

  it.live("fromApprovals declines a form that is not an approval request, and one asked outside any call it can tell", () =>
    Effect.gen(function* () {
      const { url } = yield* rawServer({ message: "a form", requestedSchema: SEP1034 })
      const handler = yield* McpElicitation.fromApprovals.pipe(Effect.provide(Approval.layerAutoApprove))
      const result = yield* ask(url, handler)
      expect(result.content).toBe(`answered {"action":"decline"}`)
    }).pipe(Effect.scoped)
  )
})

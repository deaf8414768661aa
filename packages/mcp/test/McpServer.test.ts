import { fileURLToPath } from "node:url"
import { AgentEvent, Approval } from "@agentloop/core"
import { Mcp, McpError, McpHttp } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { type ElicitRequest, ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Layer, Redacted } from "effect"
import { ServedTools, servedHandlers } from "./fixtures/tools.js"
import { eventually, fixtureLog } from "./support.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const serveFixture = fileURLToPath(new URL("./fixtures/serve-stdio.ts", import.meta.url))
const TOKEN = "test-bearer-token-0123456789"

type Elicit = (request: ElicitRequest) => ElicitResult

/** The official SDK client, with form elicitation if `elicit` is given; closed with the scope. */
const connect = (transport: () => Transport, elicit?: Elicit) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "test-client", version: "1.0.0" }, { capabilities: elicit === undefined ? {} : { elicitation: { form: {} } } })
      if (elicit !== undefined) client.setRequestHandler(ElicitRequestSchema, async (request) => elicit(request))
      await client.connect(transport())
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

const text = (result: object) => (((result as { content?: Array<{ text?: string }> }).content) ?? []).map((b) => b.text).join("")

const approve: Elicit = () => ({ action: "accept", content: { approve: true } })
const decline: Elicit = () => ({ action: "decline" })

/** The same acceptance scenarios over each transport. */
const scenarios = (name: string, makeTransport: (log: string) => Effect.Effect<() => Transport, unknown, any>) =>
  describe(`our toolkit as an MCP server over ${name}, driven by the official SDK client`, () => {
    it.live("lists the tools with annotations and object input schemas", () =>
      Effect.gen(function* () {
        const log = fixtureLog()
        const client = yield* connect(yield* makeTransport(log.file))
        const { tools } = yield* Effect.promise(() => client.listTools())
        expect(tools.map((t) => t.name)).toEqual(["greet", "wipe", "refund", "slow", "status"])
        const byName = Object.fromEntries(tools.map((t) => [t.name, t]))
        expect(byName["wipe"]!.annotations).toEqual({ destructiveHint: true })
        expect(byName["greet"]!.annotations).toBeUndefined()
        expect(byName["greet"]!.inputSchema).toMatchObject({ type: "object", required: ["name"], properties: { name: { type: "string" } } })
        expect(byName["status"]!.inputSchema).toEqual({ type: "object", properties: {} })
      })
    )

    it.live("one page holds every tool: any tools/list cursor is invalid (-32602)", () =>
      Effect.gen(function* () {
        const client = yield* connect(yield* makeTransport(fixtureLog().file))
        const listed = yield* Effect.promise(() => client.listTools())
        expect(listed.nextCursor).toBeUndefined()
        const error = yield* Effect.flip(Effect.tryPromise(() => client.listTools({ cursor: "0" })))
        expect(error.cause).toMatchObject({ code: -32602 })
      })
    )

    it.live("calls a tool; invalid arguments and unknown tools are error results", () =>
      Effect.gen(function* () {
        const log = fixtureLog()
        const client = yield* connect(yield* makeTransport(log.file))
        const greeted = yield* Effect.promise(() => client.callTool({ name: "greet", arguments: { name: "Ada" } }))
        expect(greeted).toMatchObject({ content: [{ type: "text", text: "Hello, Ada!" }] })
        expect(greeted.isError).toBeUndefined()
        const invalid = yield* Effect.promise(() => client.callTool({ name: "greet", arguments: { name: 42 } }))
        expect(invalid.isError).toBe(true)
        expect(text(invalid)).toContain("Invalid arguments")
        const unknown = yield* Effect.promise(() => client.callTool({ name: "nope", arguments: {} }))
        expect(text(unknown)).toContain('Unknown tool "nope"')
        expect(log.lines()).toEqual(["greet Ada"])
      })
    )

    it.live("a gated call asks the client through elicitation: approved runs once, declined never runs", () =>
      Effect.gen(function* () {
        const log = fixtureLog()
        const asked: Array<ElicitRequest> = []
        let answer = approve
        const client = yield* connect(yield* makeTransport(log.file), (request) => (asked.push(request), answer(request)))
        const approved = yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: "d1" } }))
        expect(text(approved)).toBe("wiped d1 (approved by test-client)")
        expect(asked[0]!.params.message).toContain('"disk": "d1"')
        answer = decline
        const declined = yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: "d2" } }))
        expect(declined.isError).toBe(true)
        expect(text(declined)).toContain("refused (by test-client)")
        // Below the threshold, no approval is asked for.
        yield* Effect.promise(() => client.callTool({ name: "refund", arguments: { amount: 5 } }))
        expect(asked.length).toBe(2)
        expect(log.lines()).toEqual(["wipe d1 by test-client", "refund 5 by nobody"])
      })
    )

    it.live("a gated call from a client without elicitation, and no Approvals service, is refused", () =>
      Effect.gen(function* () {
        const log = fixtureLog()
        const client = yield* connect(yield* makeTransport(log.file))
        const refused = yield* Effect.promise(() => client.callTool({ name: "refund", arguments: { amount: 500 } }))
        expect(refused.isError).toBe(true)
        expect(text(refused)).toContain("no approver answered")
        expect(log.lines()).toEqual([])
      })
    )
  })

scenarios("stdio", (log) =>
  Effect.succeed(
    () =>
      new StdioClientTransport({
        command: process.execPath,
        // The SDK passes the child a minimal environment (no NODE_OPTIONS): name the source condition here.
        args: ["--conditions=@agentloop/source", "--import", "tsx", serveFixture],
        cwd: root,
        env: { ...getDefaultEnvironment(), FIXTURE_LOG: log },
        stderr: "pipe"
      })
  )
)

const serveHttp = (log: string, approvals?: Layer.Layer<Approval.Approvals>) =>
  Mcp.serve(ServedTools, { transport: { http: { token: TOKEN } } }).pipe(
    Effect.provide(approvals === undefined ? servedHandlers(log) : Layer.merge(servedHandlers(log), approvals))
  )

const httpTransport = (url: string, token = TOKEN) => () =>
  new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } })

scenarios("Streamable HTTP", (log) => Effect.map(serveHttp(log), (handle) => httpTransport(handle.url!)))

describe("Streamable HTTP serving", () => {
  it.live("binds to loopback and refuses requests without the bearer token (401)", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const handle = yield* serveHttp(log.file)
      expect(handle.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
      const wrong = yield* Effect.exit(connect(httpTransport(handle.url!, "wrong-token-0123456789")))
      expect(wrong._tag).toBe("Failure")
      const bare = yield* Effect.promise(() =>
        fetch(handle.url!, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} })
        })
      )
      expect(bare.status).toBe(401)
      expect(bare.headers.get("www-authenticate")).toContain("Bearer")
      expect(McpHttp.authorized(`Bearer ${TOKEN}`, Redacted.make(TOKEN))).toBe(true)
      expect(McpHttp.authorized(`Bearer ${TOKEN}x`, Redacted.make(TOKEN))).toBe(false)
      expect(log.lines()).toEqual([])
    })
  )

  it.live("a short token is a typed configuration error, before anything listens", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Mcp.serve(ServedTools, { transport: { http: { token: "short" } } }).pipe(Effect.provide(servedHandlers(fixtureLog().file)))
      )
      if (!(error instanceof McpError.McpServeError)) return expect.fail(`expected McpServeError, got ${error._tag}`)
      expect(error.option).toBe("token")
      expect(error.message).not.toContain("short")
    })
  )

  it.live("without elicitation, the Approvals service decides", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const policy = Approval.layerPolicy((request) =>
        request.arguments["disk"] === "scratch" ? Approval.Verdict.approved({ by: "policy" }) : Approval.Verdict.denied("only scratch", { by: "policy" })
      )
      const handle = yield* serveHttp(log.file, policy)
      const client = yield* connect(httpTransport(handle.url!))
      const ok = yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: "scratch" } }))
      expect(text(ok)).toBe("wiped scratch (approved by policy)")
      const no = yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: "prod" } }))
      expect(text(no)).toContain("only scratch")
      expect(log.lines()).toEqual(["wipe scratch by policy"])
    })
  )

  it.live("every call is reported to the EventObserver as the loop reports it, refusals included (unknown tool, invalid arguments, denied)", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const events: Array<AgentEvent.AgentEvent> = []
      const observer = Layer.succeed(AgentEvent.EventObserver, { observe: (event) => void events.push(event) })
      const handle = yield* Mcp.serve(ServedTools, { transport: { http: { token: TOKEN } } }).pipe(
        Effect.provide(Layer.mergeAll(servedHandlers(log.file), observer))
      )
      const client = yield* connect(httpTransport(handle.url!))
      yield* Effect.promise(() => client.callTool({ name: "greet", arguments: { name: "Ada" } }))
      yield* Effect.promise(() => client.callTool({ name: "greet", arguments: { name: 42 } }))
      yield* Effect.promise(() => client.callTool({ name: "heroku_apps_delete", arguments: { app: "prod" } }))
      yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: 7 } }))
      yield* Effect.promise(() => client.callTool({ name: "wipe", arguments: { disk: "d1" } }))
      const seen = events.map((e) =>
        e._tag === "ToolCalled"
          ? [e._tag, e.toolName, e.arguments]
          : e._tag === "ToolResult"
            ? [e._tag, e.toolName, e.isError, e.errorKind]
            : e._tag === "ApprovalDecided"
              ? [e._tag, e.toolName, e.approved]
              : [e._tag]
      )
      expect(seen).toEqual([
        ["ToolCalled", "greet", { name: "Ada" }],
        ["ToolResult", "greet", false, undefined],
        ["ToolCalled", "greet", { name: 42 }],
        ["ToolResult", "greet", true, "InvalidArguments"],
        // As in the loop, an unknown tool has a result but no ToolCalled.
        ["ToolResult", "heroku_apps_delete", true, "UnknownTool"],
        ["ToolCalled", "wipe", { disk: 7 }],
        ["ToolResult", "wipe", true, "InvalidArguments"],
        ["ToolCalled", "wipe", { disk: "d1" }],
        ["ApprovalDecided", "wipe", false],
        ["ToolResult", "wipe", true, "Denied"]
      ])
      // One call, one id, across its events.
      const ids = events.filter((e) => "toolName" in e && e.toolName === "wipe").map((e) => (e as { toolCallId: string }).toolCallId)
      expect(new Set(ids.slice(2)).size).toBe(1)
      expect(log.lines()).toEqual(["greet Ada"])
    })
  )

  it.live("a client's cancellation (timeout) interrupts the handler", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const handle = yield* serveHttp(log.file)
      const client = yield* connect(httpTransport(handle.url!))
      const failed = yield* Effect.exit(Effect.promise(() => client.callTool({ name: "slow", arguments: {} }, undefined, { timeout: 200 })))
      expect(failed._tag).toBe("Failure")
      yield* eventually(() => log.lines().includes("slow interrupted"))
    })
  )
})

/**
 * Streamable HTTP serving under pressure: DNS rebinding (foreign Host / Origin), sessions bound to the token
 * that opened them, clients that leave without DELETE, slow initializes racing the cap (in this process and
 * from other OS processes), and 70 open-and-close cycles of our own client.
 */
import { spawn } from "node:child_process"
import { request } from "node:http"
import { fileURLToPath } from "node:url"
import { Toolkit } from "@agentloop/core"
import { Mcp, McpError, type McpHttp } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect, Exit, Schedule, Scope } from "effect"
import { slowInitialize } from "./fixtures/slow-initialize.mjs"
import { ServedTools, servedHandlers } from "./fixtures/tools.js"
import { eventually, fixtureLog } from "./support.js"

const TOKEN = "sessions-test-token-0123456789"
const OTHER = "sessions-other-token-9876543210"
const slowInitializeScript = fileURLToPath(new URL("./fixtures/slow-initialize.mjs", import.meta.url))

const serve = (log: string, http: Partial<McpHttp.Options> = {}) =>
  Mcp.serve(ServedTools, { transport: { http: { token: TOKEN, ...http } } }).pipe(Effect.provide(servedHandlers(log)))

const initializeBody = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } }
})

/** One raw HTTP request (node:http lets a test set `Host`, which fetch does not). */
const raw = (url: string, options: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string } = {}) =>
  Effect.promise(
    () =>
      new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          url,
          {
            method: options.method ?? "POST",
            headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...options.headers }
          },
          (response) => {
            let body = ""
            response.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
            response.on("end", () => resolve({ status: response.statusCode!, body, headers: response.headers }))
          }
        )
        req.on("error", reject)
        req.end(options.body ?? initializeBody)
      })
  )

/** The official SDK client (its `close()` sends no DELETE); closed with the scope unless closed before. */
const sdkClient = (url: string, token = TOKEN) =>
  Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } })
      const client = new Client({ name: "sdk-client", version: "1.0.0" }, { capabilities: {} })
      await client.connect(transport)
      return { client, transport }
    }),
    ({ client }) => Effect.promise(() => client.close())
  )

/** Exactly `max` initializes succeeded, every other one got 503, and `max` sessions are open. */
const expectCapHeld = (statuses: ReadonlyArray<number>, handle: Mcp.ServeHandle, max: number) =>
  Effect.gen(function* () {
    expect(statuses.filter((s) => s === 200)).toHaveLength(max)
    expect(statuses.filter((s) => s === 503)).toHaveLength(statuses.length - max)
    expect(yield* handle.sessions).toBe(max)
  })

const greet = (client: Client, name: string) =>
  Effect.promise(() => client.callTool({ name: "greet", arguments: { name } })).pipe(
    Effect.map((result) => (result.content as Array<{ text: string }>)[0]!.text)
  )

describe("Streamable HTTP: DNS-rebinding protection (Host and Origin)", () => {
  it.live("a foreign Host or Origin gets 403 even with a valid token, and before the token is checked; localhost names pass", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const handle = yield* serve(log.file)
      const url = handle.url!
      const port = new URL(url).port
      const auth = { authorization: `Bearer ${TOKEN}` }
      for (const headers of [
        { ...auth, host: "evil.example.com" },
        { ...auth, host: `evil.example.com:${port}` },
        { ...auth, origin: "http://evil.example.com" },
        { ...auth, origin: "null" },
        { host: "evil.example.com" } // no token: still 403, not 401
      ]) {
        const refused = yield* raw(url, { headers })
        expect(refused.status).toBe(403)
        expect(JSON.parse(refused.body)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32000 } })
        expect(JSON.parse(refused.body).error.message).toMatch(/^Forbidden: the (Host header|Origin) /)
      }
      for (const headers of [
        { ...auth, host: `localhost:${port}` },
        { ...auth, host: `127.0.0.1:${port}`, origin: `http://localhost:${port}` },
        { ...auth, host: `[::1]:${port}` }
      ]) {
        expect((yield* raw(url, { headers })).status).toBe(200)
      }
      expect(log.lines()).toEqual([])
    })
  )

  it.live("configured allowedHosts / allowedOrigins replace the defaults; a wildcard bind without allowedHosts is refused", () =>
    Effect.gen(function* () {
      const handle = yield* serve(fixtureLog().file, { allowedHosts: ["mcp.internal"], allowedOrigins: ["https://console.internal"] })
      const auth = { authorization: `Bearer ${TOKEN}` }
      expect((yield* raw(handle.url!, { headers: { ...auth, host: "mcp.internal" } })).status).toBe(200)
      expect((yield* raw(handle.url!, { headers: { ...auth, host: "mcp.internal", origin: "https://console.internal" } })).status).toBe(200)
      expect((yield* raw(handle.url!, { headers: { ...auth, host: "localhost" } })).status).toBe(403)
      expect((yield* raw(handle.url!, { headers: { ...auth, host: "mcp.internal", origin: "http://localhost" } })).status).toBe(403)
      const error = yield* Effect.flip(serve(fixtureLog().file, { host: "0.0.0.0" }))
      if (!(error instanceof McpError.McpServeError)) return expect.fail(`expected McpServeError, got ${error._tag}`)
      expect(error.option).toBe("allowedHosts")
    })
  )
})

describe("Streamable HTTP: sessions", () => {
  it.live("a session belongs to the token that opened it: another token using its id gets 404, and cannot delete it", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const handle = yield* serve(log.file, { token: [TOKEN, OTHER] })
      const { client, transport } = yield* sdkClient(handle.url!)
      const sessionId = transport.sessionId!
      expect(sessionId).toBeDefined()
      const foreign = { authorization: `Bearer ${OTHER}`, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" }
      const listed = yield* raw(handle.url!, { headers: foreign, body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }) })
      expect(listed.status).toBe(404)
      expect((yield* raw(handle.url!, { method: "DELETE", headers: foreign, body: "" })).status).toBe(404)
      // The owner's session is untouched; the other token can open sessions of its own.
      expect(yield* greet(client, "owner")).toBe("Hello, owner!")
      const other = yield* sdkClient(handle.url!, OTHER)
      expect(yield* greet(other.client, "other")).toBe("Hello, other!")
      expect(yield* handle.sessions).toBe(2)
      expect(log.lines()).toEqual(["greet owner", "greet other"])
    })
  )

  it.live("100 clients that close without DELETE: every one is served (idle sessions make room), at most maxSessions are open, and idle ones expire", () =>
    Effect.gen(function* () {
      for (const idle of [undefined, "300 millis"] as const) {
        const log = fixtureLog()
        const handle = yield* serve(log.file, idle === undefined ? {} : { sessionIdleTimeout: idle })
        let most = 0
        for (let i = 0; i < 100; i++) {
          // The official SDK client: its close() ends the streams but sends no DELETE.
          const served = yield* Effect.scoped(Effect.flatMap(sdkClient(handle.url!), ({ client }) => greet(client, `c${i}`)))
          expect(served).toBe(`Hello, c${i}!`)
          most = Math.max(most, yield* handle.sessions)
        }
        expect(most).toBeLessThanOrEqual(64)
        expect(log.lines()).toHaveLength(100)
        if (idle === undefined) {
          // Default idle timeout (10 minutes): the departed clients' sessions stay until a new one needs room.
          expect(yield* handle.sessions).toBe(64)
        } else {
          yield* eventually(() => Effect.runSync(handle.sessions) === 0)
        }
        const next = yield* Effect.scoped(Effect.flatMap(sdkClient(handle.url!), ({ client }) => greet(client, "next")))
        expect(next).toBe("Hello, next!")
      }
    })
  , 120_000)

  it.live("a session whose client is still connected is never evicted (503 with Retry-After); once that client has gone, its slot is reused", () =>
    Effect.gen(function* () {
      const handle = yield* serve(fixtureLog().file, { maxSessions: 1 })
      const scope = yield* Scope.make()
      const first = yield* Scope.provide(sdkClient(handle.url!), scope)
      expect(yield* greet(first.client, "first")).toBe("Hello, first!")
      const refused = yield* raw(handle.url!, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect(refused.status).toBe(503)
      expect(refused.headers["retry-after"]).toBe("5")
      expect(yield* greet(first.client, "still")).toBe("Hello, still!")
      // Closed without DELETE: once the server sees its stream end, the session is idle and the next client
      // takes its slot.
      yield* Scope.close(scope, Exit.void)
      const second = yield* Effect.scoped(Effect.flatMap(sdkClient(handle.url!), ({ client }) => greet(client, "second"))).pipe(
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 50 })
      )
      expect(second).toBe("Hello, second!")
      expect(yield* handle.sessions).toBe(1)
    })
  )

  it.live("concurrent slow initializes never open more than maxSessions: exactly max succeed, the rest get 503 at once (20 rounds)", () =>
    Effect.gen(function* () {
      for (let round = 1; round <= 20; round++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* serve(fixtureLog().file, { maxSessions: 5 })
            const started = Array.from({ length: 12 }, () => slowInitialize(handle.url!, TOKEN))
            const statuses: Array<number> = []
            started.forEach((s) => void s.status.then((status) => statuses.push(status)))
            // The refusals come before any body is complete: the slot is taken when the headers arrive.
            yield* eventually(() => statuses.length === 7)
            expect(statuses).toEqual(Array(7).fill(503))
            started.forEach((s) => s.finish())
            const all = yield* Effect.promise(() => Promise.all(started.map((s) => s.status)))
            yield* expectCapHeld(all, handle, 5)
          })
        )
      }
    })
  , 60_000)

  it.live("slow initializes from 4 OS processes started together never open more than maxSessions (5 rounds)", () =>
    Effect.gen(function* () {
      for (let round = 1; round <= 5; round++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* serve(fixtureLog().file, { maxSessions: 6 })
            const statuses: Array<number> = []
            // Each process opens 4 slow initializes and prints every answer as it comes.
            const children = Array.from({ length: 4 }, () => {
              const child = spawn(process.execPath, [slowInitializeScript, handle.url!, TOKEN, "4"], { stdio: ["pipe", "pipe", "inherit"] })
              child.stdout.on("data", (chunk: Buffer) => {
                for (const line of chunk.toString("utf8").split("\n")) if (line.startsWith("status ")) statuses.push(Number(line.slice(7)))
              })
              // A process whose requests were all refused has exited already: "go" finds no reader.
              child.stdin!.on("error", () => undefined)
              return { child, exited: new Promise<void>((resolve) => child.once("close", () => resolve())) }
            })
            // All 16 are in flight, none has finished its body: the 10 over the cap are refused now (bounded wait).
            yield* eventually(() => statuses.length >= 10).pipe(Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.void }))
            for (const { child } of children) child.stdin!.end("go\n")
            yield* Effect.promise(() => Promise.all(children.map(({ exited }) => exited)))
            expect(statuses).toHaveLength(16)
            yield* expectCapHeld(statuses, handle, 6)
          })
        )
      }
    })
  , 120_000)

  it.live("70 open-and-close cycles of Mcp.toolkit against one server: each close sends DELETE, no session is left, nobody is locked out", () =>
    Effect.gen(function* () {
      const log = fixtureLog()
      const handle = yield* serve(log.file)
      for (let cycle = 1; cycle <= 70; cycle++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const mcp = yield* Mcp.toolkit(Mcp.http(handle.url!, { token: TOKEN }), { retries: 0 })
            const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
            const result = yield* Toolkit.execute(resolved, { name: "greet", args: { name: `cycle${cycle}` } }, { runId: "r", toolCallId: "c", idempotencyKey: "k" })
            expect(result).toMatchObject({ isError: false, content: `Hello, cycle${cycle}!` })
            expect(yield* handle.sessions).toBe(1)
          })
        )
        // The scope has closed: its DELETE has been answered.
        expect(yield* handle.sessions).toBe(0)
      }
      expect(log.lines()).toHaveLength(70)
    })
  , 120_000)

  it.live("an invalid tools/list cursor is answered with -32602", () =>
    Effect.gen(function* () {
      const handle = yield* serve(fixtureLog().file)
      const { client } = yield* sdkClient(handle.url!)
      const error = yield* Effect.flip(Effect.tryPromise(() => client.listTools({ cursor: "no-such-cursor" })))
      expect(error.cause).toMatchObject({ code: -32602 })
      expect(String(error.cause)).toContain("Invalid cursor")
      expect((yield* Effect.promise(() => client.listTools())).tools.length).toBe(5)
    })
  )
})

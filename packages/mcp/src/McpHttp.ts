/**
 * Streamable HTTP serving: one MCP session (and `Server`) per client, a bearer token on every request
 * (compared in constant time), loopback by default, and every session closed with the scope.
 *
 * @since 0.1.0
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Effect, Redacted, type Scope } from "effect"
import { McpServeError } from "./McpError.js"
import type { Factory, Handle } from "./McpServer.js"

export interface Options {
  /** Required: clients send `Authorization: Bearer <token>`. */
  readonly token: Redacted.Redacted<string> | string
  /** Default `127.0.0.1`: only this machine can connect. */
  readonly host?: string
  /** Default 0 (any free port; read it from the handle's `url`). */
  readonly port?: number
  /** Default `/mcp`. */
  readonly path?: string
  /** Open sessions at most (default 64); more are answered 503. */
  readonly maxSessions?: number
}

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Checks `Authorization: Bearer <token>` without leaking the token's length or content through timing. */
export const authorized = (header: string | undefined, token: Redacted.Redacted<string>): boolean =>
  header !== undefined && timingSafeEqual(digest(header), digest(`Bearer ${Redacted.value(token)}`))

const jsonRpcError = (response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }))
}

interface Session {
  readonly transport: StreamableHTTPServerTransport
  readonly server: Server
}

/** Serves over Streamable HTTP until the scope closes. */
export const serveHttp = (factory: Factory, options: Options): Effect.Effect<Handle, McpServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const token = typeof options.token === "string" ? Redacted.make(options.token) : options.token
    if (Redacted.value(token).length < 16) {
      return yield* new McpServeError({ option: "token", reason: "the bearer token must be at least 16 characters" })
    }
    const path = options.path ?? "/mcp"
    const maxSessions = options.maxSessions ?? 64
    const sessions = new Map<string, Session>()

    const newSession = async (): Promise<Session> => {
      const server = factory.newServer()
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void sessions.set(id, session)
      })
      const session: Session = { transport, server }
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
      }
      await server.connect(transport)
      return session
    }

    const handle = async (request: IncomingMessage, response: ServerResponse) => {
      if (new URL(request.url ?? "/", "http://localhost").pathname !== path) return jsonRpcError(response, 404, "Not found")
      if (!authorized(request.headers.authorization, token)) {
        return jsonRpcError(response, 401, "Unauthorized: a valid bearer token is required", { "www-authenticate": 'Bearer realm="mcp"' })
      }
      const sessionId = request.headers["mcp-session-id"]
      if (typeof sessionId === "string") {
        const session = sessions.get(sessionId)
        if (session === undefined) return jsonRpcError(response, 404, "Unknown or expired session")
        return session.transport.handleRequest(request, response)
      }
      if (request.method !== "POST") return jsonRpcError(response, 400, "Bad request: no session (initialize first)")
      if (sessions.size >= maxSessions) return jsonRpcError(response, 503, "Too many open sessions")
      const session = await newSession()
      await session.transport.handleRequest(request, response)
      // Not an initialize request: the transport refused it, and no session was opened.
      if (session.transport.sessionId === undefined) await session.server.close().catch(() => undefined)
    }

    const http = createServer((request, response) => {
      handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) jsonRpcError(response, 500, `Internal error: ${error instanceof Error ? error.message : String(error)}`)
        else response.end()
      })
    })
    const address = yield* Effect.acquireRelease(
      Effect.callback<AddressInfo, McpServeError>((resume) => {
        http.once("error", (error) => resume(Effect.fail(new McpServeError({ option: "port", reason: error.message }))))
        http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resume(Effect.succeed(http.address() as AddressInfo)))
      }),
      () =>
        Effect.promise(async () => {
          await Promise.all([...sessions.values()].map((session) => session.server.close().catch(() => undefined)))
          sessions.clear()
          http.closeAllConnections()
          await new Promise<void>((resolve) => http.close(() => resolve()))
        })
    )
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    return { url: `http://${host}:${address.port}${path}`, closed: Effect.never }
  })

/**
 * Streamable HTTP serving: one MCP session (and `Server`) per client, a bearer token on every request
 * (compared in constant time), loopback by default, `Host` and `Origin` checked against DNS rebinding, and
 * sessions that expire when idle, never exceed the cap, belong to the token that opened them, and are all
 * closed with the scope.
 *
 * @since 0.1.0
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Duration, Effect, Redacted, Result, type Scope } from "effect"
import * as SessionTable from "./internal/sessionTable.js"
import { McpServeError } from "./McpError.js"
import * as McpOriginGuard from "./McpOriginGuard.js"
import type { Factory, Handle } from "./McpServer.js"

type Token = Redacted.Redacted<string> | string

export interface Options {
  /**
   * Required: clients send `Authorization: Bearer <token>`. Several tokens are several identities: a session
   * belongs to the token that opened it, and another token using its id gets 404.
   */
  readonly token: Token | ReadonlyArray<Token>
  /** Default `127.0.0.1`: only this machine can connect. */
  readonly host?: string
  /** Default 0 (any free port; read it from the handle's `url`). */
  readonly port?: number
  /** Default `/mcp`. */
  readonly path?: string
  /**
   * Open sessions at most (default 64). When full, the least recently used idle session (no request in
   * flight, no open stream) is closed to admit a new one; only when every session is busy is the answer 503.
   */
  readonly maxSessions?: number
  /** An idle session (no request in flight, no open stream) is closed after this long. Default 10 minutes. */
  readonly sessionIdleTimeout?: Duration.Input
  /**
   * The `Host` header values accepted (`name` for any port, or `name:port`); others get 403 (DNS-rebinding
   * protection). Default: `localhost`, `127.0.0.1` and `[::1]` when bound to loopback, else the bind address;
   * binding to every interface (`0.0.0.0`, `::`) requires this option.
   */
  readonly allowedHosts?: ReadonlyArray<string>
  /** The `Origin` header values accepted (exact origins); others get 403. Default: origins on an allowed host. */
  readonly allowedOrigins?: ReadonlyArray<string>
}

export const DEFAULT_MAX_SESSIONS = 64
export const DEFAULT_SESSION_IDLE_TIMEOUT: Duration.Duration = Duration.minutes(10)

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Checks `Authorization: Bearer <token>` without leaking the token's length or content through timing. */
export const authorized = (header: string | undefined, token: Redacted.Redacted<string>): boolean =>
  identify(header, [token]) === 0

/**
 * Which token the `Authorization` header carries (its index), or -1. Every token is compared, in constant
 * time each: the timing tells neither the tokens nor which one matched.
 */
export const identify = (header: string | undefined, tokens: ReadonlyArray<Redacted.Redacted<string>>): number => {
  if (header === undefined) return -1
  const given = digest(header)
  let found = -1
  tokens.forEach((token, index) => {
    if (timingSafeEqual(given, digest(`Bearer ${Redacted.value(token)}`)) && found === -1) found = index
  })
  return found
}

const jsonRpcError = (response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }))
}

interface Session {
  readonly transport: StreamableHTTPServerTransport
  readonly server: Server
}

/** Checks the options; the tokens as `Redacted`s. */
const validate = (options: Options): Result.Result<{ tokens: Array<Redacted.Redacted<string>>; guard: McpOriginGuard.Guard }, McpServeError> => {
  const given: ReadonlyArray<Token> = Array.isArray(options.token) ? options.token : [options.token as Token]
  const tokens = given.map((token) => (typeof token === "string" ? Redacted.make(token) : token))
  if (tokens.length === 0) return Result.fail(new McpServeError({ option: "token", reason: "at least one bearer token is required" }))
  if (tokens.some((token) => Redacted.value(token).length < 16)) {
    return Result.fail(new McpServeError({ option: "token", reason: "the bearer token must be at least 16 characters" }))
  }
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    return Result.fail(new McpServeError({ option: "maxSessions", reason: `must be a positive integer, got ${maxSessions}` }))
  }
  const guard = McpOriginGuard.make({ bind: options.host ?? "127.0.0.1", allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins })
  return Result.isFailure(guard)
    ? Result.fail(new McpServeError({ option: guard.failure.option, reason: guard.failure.reason }))
    : Result.succeed({ tokens, guard: guard.success })
}

/** Serves over Streamable HTTP until the scope closes. */
export const serveHttp = (factory: Factory, options: Options): Effect.Effect<Handle, McpServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const { guard, tokens } = yield* Effect.fromResult(validate(options))
    const path = options.path ?? "/mcp"
    const sessions = SessionTable.make<Session>({
      max: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
      idleMs: Duration.toMillis(options.sessionIdleTimeout ?? DEFAULT_SESSION_IDLE_TIMEOUT),
      close: (session) => void session.server.close().catch(() => undefined)
    })

    /** Tracks one HTTP response of a session: busy until it has closed. */
    const track = (entry: SessionTable.Entry<Session>, response: ServerResponse) => {
      sessions.begin(entry)
      response.once("close", () => sessions.end(entry))
    }

    const newSession = async (reservation: SessionTable.Reservation<Session>, identity: number, response: ServerResponse): Promise<Session> => {
      const server = factory.newServer()
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => track(reservation.commit(id, identity, session), response)
      })
      const session: Session = { transport, server }
      // A DELETE, an expiry or the scope closed the session.
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.remove(transport.sessionId)
      }
      await server.connect(transport)
      return session
    }

    const handle = async (request: IncomingMessage, response: ServerResponse) => {
      if (new URL(request.url ?? "/", "http://localhost").pathname !== path) return jsonRpcError(response, 404, "Not found")
      // Before the token: a page that rebound its name to this address learns nothing, not even the 401.
      const refused = McpOriginGuard.check(guard, request.headers.host, request.headers.origin)
      if (refused !== undefined) return jsonRpcError(response, 403, refused)
      const identity = identify(request.headers.authorization, tokens)
      if (identity === -1) {
        return jsonRpcError(response, 401, "Unauthorized: a valid bearer token is required", { "www-authenticate": 'Bearer realm="mcp"' })
      }
      const sessionId = request.headers["mcp-session-id"]
      if (sessionId !== undefined) {
        // Another token's session is as unknown as an expired one.
        const entry = typeof sessionId === "string" ? sessions.get(sessionId, identity) : undefined
        if (entry === undefined) return jsonRpcError(response, 404, "Unknown or expired session")
        track(entry, response)
        return entry.value.transport.handleRequest(request, response)
      }
      if (request.method !== "POST") return jsonRpcError(response, 400, "Bad request: no session (initialize first)")
      // Reserved now, before the body is read: slow initialize requests cannot overshoot the cap.
      const reservation = sessions.reserve()
      if (reservation === undefined) return jsonRpcError(response, 503, "Too many open sessions", { "retry-after": "5" })
      try {
        const session = await newSession(reservation, identity, response)
        await session.transport.handleRequest(request, response)
        // Not an initialize request: the transport refused it, and no session was opened.
        if (session.transport.sessionId === undefined) await session.server.close().catch(() => undefined)
      } finally {
        reservation.release()
      }
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
          const open = sessions.values()
          sessions.clear()
          await Promise.all(open.map((session) => session.server.close().catch(() => undefined)))
          http.closeAllConnections()
          await new Promise<void>((resolve) => http.close(() => resolve()))
        })
    )
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    return { url: `http://${host}:${address.port}${path}`, closed: Effect.never, sessions: Effect.sync(sessions.size) }
  })

/**
 * Streamable HTTP serving: one MCP session (and `Server`) per client, a bearer token on every request
 * (compared in constant time), loopback by default, `Host` and `Origin` checked against DNS rebinding, and
 * sessions that expire when idle, never exceed the cap, belong to the token that opened them, and are all
 * closed with the scope. Streams are resumable (SEP-1699): each session keeps a bounded replay buffer, SSE
 * streams start with a priming event (an id and the `retry` interval), and a client that lost a stream
 * reconnects with `Last-Event-ID` and gets exactly the events it missed. What a session's clients have not
 * read yet is bounded too: a stream that falls too far behind is cut, and its client resumes.
 *
 * @since 0.1.0
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { isInitializeRequest, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js"
import { Duration, Effect, Redacted, Result, type Scope } from "effect"
import * as EventStore from "./internal/eventStore.js"
import * as SendBuffer from "./internal/sendBuffer.js"
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
  /**
   * Resumable streams (SEP-1699): every SSE event is kept in the session's replay buffer, at most `maxEvents`
   * (default 1,000) and `maxBytes` (default 1 MiB) per session, oldest dropped first; the buffer goes with its
   * session. SSE streams start with a priming event carrying `retry` (default 1 second), the delay a client
   * waits before it reconnects. `false`: no buffer, no priming, a lost stream is lost.
   */
  readonly replay?: false | { readonly maxEvents?: number; readonly maxBytes?: number; readonly retry?: Duration.Input }
  /**
   * The bytes written to a session's open responses that its client has not read yet, at most `maxBytes`
   * (default 1 MiB) per session: an event that would pass it is not written, and the session's streams that
   * are behind are ended, and their connections destroyed if they have not drained after `drainTimeout`
   * (default 5 seconds). An event larger than `maxBytes` is still sent to a client that has read everything
   * before it. The client resumes a cut stream with `Last-Event-ID` (keep `maxBytes` well under
   * `replay.maxBytes`, so that what it missed is still held); with `replay: false` the rest of a cut stream
   * is lost.
   */
  readonly sendBuffer?: { readonly maxBytes?: number; readonly drainTimeout?: Duration.Input }
}

export const DEFAULT_MAX_SESSIONS = 64
export const DEFAULT_SESSION_IDLE_TIMEOUT: Duration.Duration = Duration.minutes(10)
export const DEFAULT_REPLAY: EventStore.Bounds & { readonly retry: Duration.Duration } = {
  maxEvents: 1_000,
  maxBytes: 1_048_576,
  retry: Duration.seconds(1)
}
export const DEFAULT_SEND_BUFFER: { readonly maxBytes: number; readonly drainTimeout: Duration.Duration } = {
  maxBytes: 1_048_576,
  drainTimeout: Duration.seconds(5)
}

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
  readonly store: EventStore.ReplayStore | undefined
  readonly sendBuffer: SendBuffer.SendBuffer
  /** The protocol version the session negotiated at `initialize`. */
  version: string | undefined
}

type Replay = (EventStore.Bounds & { readonly retryMs: number }) | undefined

const positiveInteger = (option: string, value: number): McpServeError | undefined =>
  Number.isInteger(value) && value >= 1 ? undefined : new McpServeError({ option, reason: `must be a positive integer, got ${value}` })

/** The duration in milliseconds, or the error naming the option. */
const finiteMillis = (option: string, input: Duration.Input): Result.Result<number, McpServeError> => {
  const duration = Duration.fromInput(input)
  return duration._tag === "None" || !Duration.isFinite(duration.value)
    ? Result.fail(new McpServeError({ option, reason: "must be a finite duration" }))
    : Result.succeed(Math.round(Duration.toMillis(duration.value)))
}

const replayOf = (options: Options): Result.Result<Replay, McpServeError> => {
  if (options.replay === false) return Result.succeed(undefined)
  const maxEvents = options.replay?.maxEvents ?? DEFAULT_REPLAY.maxEvents
  const maxBytes = options.replay?.maxBytes ?? DEFAULT_REPLAY.maxBytes
  const invalid = positiveInteger("replay.maxEvents", maxEvents) ?? positiveInteger("replay.maxBytes", maxBytes)
  if (invalid !== undefined) return Result.fail(invalid)
  return Result.map(finiteMillis("replay.retry", options.replay?.retry ?? DEFAULT_REPLAY.retry), (retryMs) => ({ maxEvents, maxBytes, retryMs }))
}

const sendBufferOf = (options: Options): Result.Result<SendBuffer.Limits, McpServeError> => {
  const maxBytes = options.sendBuffer?.maxBytes ?? DEFAULT_SEND_BUFFER.maxBytes
  const invalid = positiveInteger("sendBuffer.maxBytes", maxBytes)
  if (invalid !== undefined) return Result.fail(invalid)
  const drainTimeout = finiteMillis("sendBuffer.drainTimeout", options.sendBuffer?.drainTimeout ?? DEFAULT_SEND_BUFFER.drainTimeout)
  return Result.map(drainTimeout, (drainTimeoutMs) => ({ maxBytes, drainTimeoutMs }))
}

/**
 * Priming events and stream closing (SEP-1699) follow the version the session negotiated: a later request
 * whose `MCP-Protocol-Version` header names an older version is read as the negotiated one, so a client that
 * said it speaks 2025-11-25 at `initialize` gets resumable streams on every request.
 */
const negotiatedHeader = (request: IncomingMessage, version: string | undefined) => {
  const sent = request.headers["mcp-protocol-version"]
  if (version === undefined || typeof sent !== "string" || sent >= version) return
  request.headers["mcp-protocol-version"] = version
  // The SDK reads the raw header list.
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() === "mcp-protocol-version") request.rawHeaders[i + 1] = version
  }
}

/** Checks the options; the tokens as `Redacted`s. */
const validate = (
  options: Options
): Result.Result<
  { tokens: Array<Redacted.Redacted<string>>; guard: McpOriginGuard.Guard; replay: Replay; sendBuffer: SendBuffer.Limits },
  McpServeError
> => {
  const given: ReadonlyArray<Token> = Array.isArray(options.token) ? options.token : [options.token as Token]
  const tokens = given.map((token) => (typeof token === "string" ? Redacted.make(token) : token))
  if (tokens.length === 0) return Result.fail(new McpServeError({ option: "token", reason: "at least one bearer token is required" }))
  if (tokens.some((token) => Redacted.value(token).length < 16)) {
    return Result.fail(new McpServeError({ option: "token", reason: "the bearer token must be at least 16 characters" }))
  }
  const invalid = positiveInteger("maxSessions", options.maxSessions ?? DEFAULT_MAX_SESSIONS)
  if (invalid !== undefined) return Result.fail(invalid)
  const replay = replayOf(options)
  if (Result.isFailure(replay)) return Result.fail(replay.failure)
  const sendBuffer = sendBufferOf(options)
  if (Result.isFailure(sendBuffer)) return Result.fail(sendBuffer.failure)
  const guard = McpOriginGuard.make({ bind: options.host ?? "127.0.0.1", allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins })
  return Result.isFailure(guard)
    ? Result.fail(new McpServeError({ option: guard.failure.option, reason: guard.failure.reason }))
    : Result.succeed({ tokens, guard: guard.success, replay: replay.success, sendBuffer: sendBuffer.success })
}

/** Serves over Streamable HTTP until the scope closes. */
export const serveHttp = (factory: Factory, options: Options): Effect.Effect<Handle, McpServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const { guard, replay, sendBuffer, tokens } = yield* Effect.fromResult(validate(options))
    const path = options.path ?? "/mcp"
    const sessions = SessionTable.make<Session>({
      max: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
      idleMs: Duration.toMillis(options.sessionIdleTimeout ?? DEFAULT_SESSION_IDLE_TIMEOUT),
      close: (session) => void session.server.close().catch(() => undefined)
    })

    /** Tracks one HTTP response of a session: busy until it has closed; what it sends is metered. */
    const track = (entry: SessionTable.Entry<Session>, response: ServerResponse) => {
      entry.value.sendBuffer.attach(response)
      sessions.begin(entry)
      response.once("close", () => sessions.end(entry))
    }

    const newSession = async (reservation: SessionTable.Reservation<Session>, identity: number, response: ServerResponse): Promise<Session> => {
      const server = factory.newServer()
      const store = replay === undefined ? undefined : EventStore.make(replay)
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => track(reservation.commit(id, identity, session), response),
        ...(replay === undefined || store === undefined ? {} : { eventStore: store, retryInterval: replay.retryMs })
      })
      const session: Session = { transport, server, store, sendBuffer: SendBuffer.make(sendBuffer), version: undefined }
      // A DELETE, an expiry or the scope closed the session: its replay buffer goes with it.
      transport.onclose = () => {
        store?.clear()
        if (transport.sessionId !== undefined) sessions.remove(transport.sessionId)
      }
      await server.connect(transport)
      const receive = transport.onmessage
      transport.onmessage = (message, extra) => {
        if (isInitializeRequest(message)) {
          const asked = message.params.protocolVersion
          session.version = SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : SUPPORTED_PROTOCOL_VERSIONS[0]
        }
        receive?.(message, extra)
      }
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
        const lastEventId = request.headers["last-event-id"]
        if (request.method === "GET" && typeof lastEventId === "string" && entry.value.store?.knows(lastEventId) === false) {
          return jsonRpcError(
            response,
            400,
            "Unknown Last-Event-ID: not an event of this session, or no longer held (the replay buffer keeps the latest events only)"
          )
        }
        negotiatedHeader(request, entry.value.version)
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
          for (const session of open) session.store?.clear()
          await Promise.all(open.map((session) => session.server.close().catch(() => undefined)))
          http.closeAllConnections()
          await new Promise<void>((resolve) => http.close(() => resolve()))
        })
    )
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    return {
      url: `http://${host}:${address.port}${path}`,
      closed: Effect.never,
      sessions: Effect.sync(sessions.size),
      replayBuffer: Effect.sync(() =>
        sessions.values().reduce(
          (total, session) => {
            const size = session.store?.size() ?? { events: 0, bytes: 0 }
            return { events: total.events + size.events, bytes: total.bytes + size.bytes }
          },
          { events: 0, bytes: 0 }
        )
      ),
      sendBuffer: Effect.sync(() =>
        sessions.values().reduce(
          (total, session) => {
            const size = session.sendBuffer.size()
            return { streams: total.streams + size.streams, bytes: total.bytes + size.bytes }
          },
          { streams: 0, bytes: 0 }
        )
      )
    }
  })

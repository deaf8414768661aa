/**
 * Where an MCP server is and how to reach it: a process to spawn (stdio) or a Streamable HTTP endpoint.
 * `open` starts one session with the official SDK client; `Session` keeps one alive, respawning or
 * reconnecting with backoff after a crash, and closes it when its scope closes.
 *
 * @since 0.1.0
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { Protocol } from "@modelcontextprotocol/sdk/shared/protocol.js"
import { type ElicitResult, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import { z } from "zod"
import { Duration, Effect, Redacted, Schedule, type Scope, Semaphore } from "effect"
import { McpServerUnavailable, McpStartFailed } from "./McpError.js"

export interface Stdio {
  readonly _tag: "Stdio"
  /** A name for errors and logs (default: the command). */
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Added to the SDK's safe default environment (PATH, HOME, ...); the parent's secrets are not inherited. */
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | undefined
}

export interface Http {
  readonly _tag: "Http"
  readonly name: string
  readonly url: string
  /** Sent as `Authorization: Bearer ...`. */
  readonly token: Redacted.Redacted<string> | undefined
  readonly headers: Readonly<Record<string, string>>
}

export type Connection = Stdio | Http

export const stdio = (
  command: string,
  args: ReadonlyArray<string> = [],
  options?: { readonly name?: string; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string }
): Stdio => ({ _tag: "Stdio", name: options?.name ?? command, command, args, env: options?.env ?? {}, cwd: options?.cwd })

export const http = (
  url: string,
  options?: { readonly name?: string; readonly token?: Redacted.Redacted<string> | string; readonly headers?: Readonly<Record<string, string>> }
): Http => ({
  _tag: "Http",
  name: options?.name ?? url,
  url,
  token: typeof options?.token === "string" ? Redacted.make(options.token) : options?.token,
  headers: options?.headers ?? {}
})

/** One connected SDK client. `closed` is set once its transport has closed (crash, exit, drop, or close). */
export interface Live {
  readonly client: Client
  readonly pid: number | undefined
  closed: boolean
  /**
   * Ends the session for good: over HTTP it first sends `DELETE` (as the specification asks of a client that
   * leaves; waited for `TERMINATE_TIMEOUT` at most), so the server frees it at once; then closes the transport.
   */
  readonly close: () => Promise<void>
}

/** How long a closing client waits for the server to answer its `DELETE`. */
export const TERMINATE_TIMEOUT = Duration.seconds(2)

export interface OpenOptions {
  /** How long initialization may take. */
  readonly startTimeout: Duration.Duration
  /** Called (once) when the transport closes for any reason. */
  readonly onClose: () => void
  readonly onToolsChanged: () => void
  /**
   * Answers the server's form elicitations; when given, the client declares the `elicitation` capability
   * (form mode). Without it none is declared, and a server that elicits anyway gets "method not found" at once.
   */
  readonly elicitation?: ((params: unknown, signal: AbortSignal) => Promise<ElicitResult>) | undefined
}

const STDERR_TAIL = 2_000

/** `elicitation/create` with its params left to `McpElicitation.checkRequest`. */
const LooseElicitRequest = z.object({ method: z.literal("elicitation/create"), params: z.unknown() })

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Hides the values we hand the server (its env, our bearer token) in text that came from it (stderr, error
 * messages): a server that echoes its configuration must not leak it into our errors.
 */
export const scrubber = (connection: Connection): ((text: string) => string) => {
  const secrets = (
    connection._tag === "Stdio" ? Object.values(connection.env) : connection.token === undefined ? [] : [Redacted.value(connection.token)]
  ).filter((value) => value.length >= 6)
  return (text) => secrets.reduce((scrubbed, secret) => scrubbed.split(secret).join("[REDACTED]"), text)
}

/** Starts and initializes one session; on failure nothing is left running. */
export const open = (connection: Connection, options: OpenOptions): Effect.Effect<Live, McpStartFailed> =>
  Effect.suspend(() => {
    let stderrTail = ""
    const transport: Transport =
      connection._tag === "Stdio"
        ? new StdioClientTransport({
            command: connection.command,
            args: [...connection.args],
            env: { ...getDefaultEnvironment(), ...connection.env },
            ...(connection.cwd === undefined ? {} : { cwd: connection.cwd }),
            stderr: "pipe"
          })
        : new StreamableHTTPClientTransport(new URL(connection.url), {
            requestInit: {
              headers: {
                ...connection.headers,
                ...(connection.token === undefined ? {} : { authorization: `Bearer ${Redacted.value(connection.token)}` })
              }
            }
          })
    if (transport instanceof StdioClientTransport) {
      // Drained, or a chatty server would block on a full pipe; the tail explains a failed start.
      transport.stderr?.on("data", (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL)
      })
    }
    const elicitation = options.elicitation
    const client = new Client({ name: "agentloop", version: "0.1.0" }, { capabilities: elicitation === undefined ? {} : { elicitation: { form: {} } } })
    // Registered past the SDK client's own wrapper, which answers a schema it refuses with an unreadable dump:
    // `elicitation` checks the request itself (McpElicitation.checkRequest) and names the field.
    if (elicitation !== undefined) {
      Protocol.prototype.setRequestHandler.call(client, LooseElicitRequest as never, ((request: { params: unknown }, extra: { signal: AbortSignal }) =>
        elicitation(request.params, extra.signal)) as never)
    }
    const close = async () => {
      if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([
          transport.terminateSession().catch(() => undefined),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, Duration.toMillis(TERMINATE_TIMEOUT))))
        ])
        clearTimeout(timer)
      }
      // Aborts a DELETE still waiting, too.
      await client.close().catch(() => undefined)
    }
    const live: Live = { client, pid: undefined, closed: false, close }
    client.onclose = () => {
      if (live.closed) return
      live.closed = true
      options.onClose()
    }
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => options.onToolsChanged())
    return Effect.tryPromise({
      try: async () => {
        try {
          await client.connect(transport, { timeout: Duration.toMillis(options.startTimeout) })
        } catch (error) {
          live.closed = true
          await client.close().catch(() => undefined)
          throw error
        }
        return Object.assign(live, { pid: transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined })
      },
      catch: (error) =>
        new McpStartFailed({
          server: connection.name,
          reason: scrubber(connection)(`${messageOf(error)}${stderrTail.trim() === "" ? "" : ` (stderr: ${stderrTail.trim()})`}`)
        })
    })
  })

export interface SessionOptions {
  readonly startTimeout: Duration.Duration
  /** Attempts after the first when starting or respawning (default 3), with exponential backoff. */
  readonly retries: number
  readonly backoff: Duration.Duration
  readonly onToolsChanged: () => void
  /** Called after a respawn/reconnect (the tool list may have changed while the server was down). */
  readonly onReconnect: () => void
  readonly elicitation?: OpenOptions["elicitation"]
}

/** Keeps one session alive: `get` returns it, starting (or respawning) it with backoff when it is gone. */
export interface Session {
  readonly get: Effect.Effect<Live, McpStartFailed>
  readonly current: () => Live | undefined
}

/** A session that is started now (failing with `McpStartFailed`) and closed with the scope. */
export const session = (connection: Connection, options: SessionOptions): Effect.Effect<Session, McpStartFailed, Scope.Scope> =>
  Effect.gen(function* () {
    let live: Live | undefined
    let shuttingDown = false
    let started = false
    const lock = yield* Semaphore.make(1)
    const start = open(connection, {
      startTimeout: options.startTimeout,
      onClose: () => {
        live = undefined
      },
      onToolsChanged: options.onToolsChanged,
      elicitation: options.elicitation
    }).pipe(Effect.retry({ schedule: Schedule.exponential(options.backoff), times: options.retries }))
    const get: Effect.Effect<Live, McpStartFailed> = Effect.suspend(() =>
      live !== undefined && !live.closed
        ? Effect.succeed(live)
        : lock.withPermits(1)(
            Effect.suspend(() => {
              if (live !== undefined && !live.closed) return Effect.succeed(live)
              if (shuttingDown) return Effect.fail(new McpStartFailed({ server: connection.name, reason: "the session is closed" }))
              return Effect.map(start, (opened) => {
                live = opened
                if (started) options.onReconnect()
                started = true
                return opened
              })
            })
          )
    )
    // Under the lock, so a respawn in progress finishes first and its process is closed too.
    yield* Effect.addFinalizer(() =>
      lock.withPermits(1)(
        Effect.promise(async () => {
          shuttingDown = true
          const last = live
          live = undefined
          // Closing the SDK client ends stdin, then SIGTERM, then SIGKILL: no process is left behind. Over HTTP
          // the session is deleted on the server first.
          if (last !== undefined && !last.closed) await last.close()
          else if (last !== undefined) await last.client.close().catch(() => undefined)
        })
      )
    )
    yield* get
    return { get, current: () => live }
  })

/** Turns a lost session into the error a tool call reports. */
export const unavailable = (connection: Connection, tool: string, error: McpStartFailed): McpServerUnavailable =>
  new McpServerUnavailable({ server: connection.name, tool, message: `The MCP server is down and could not be restarted: ${error.reason}` })

export const startFailed = (connection: Connection, reason: string): McpStartFailed => new McpStartFailed({ server: connection.name, reason })

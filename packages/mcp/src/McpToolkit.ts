/**
 * An MCP server's tools as an agentloop toolkit. Parameters are the server's JSON Schemas as they are;
 * results become tool results; MCP errors become typed tool failures. Annotations set the defaults
 * (`destructiveHint: true` needs approval, `readOnlyHint: true` may run in parallel), and per-tool
 * overrides win. The tool rules and `Approvals` of the agent apply as to any local tool.
 *
 * @since 0.1.0
 */
import { Agent, AgentBackend, DynamicTool, type Loop, type Tool, Toolkit } from "@agentloop/core"
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { type CallToolResult, ErrorCode, McpError, type Tool as McpTool } from "@modelcontextprotocol/sdk/types.js"
import { Duration, Effect, Exit, FiberSet, Layer, type Scope, Semaphore, type Stream, SubscriptionRef } from "effect"
import * as McpConnection from "./McpConnection.js"
import { type CallError, McpCallFailed, McpCallTimeout, McpConnectionLost, type McpStartFailed, McpToolError } from "./McpError.js"

/** Overrides for one MCP tool, by its name on the server. */
export interface ToolOverride {
  readonly requiresApproval?: boolean | ((args: Readonly<Record<string, unknown>>) => boolean)
  readonly parallel?: boolean
  /** This tool's call timeout (default: the toolkit's `timeout`). */
  readonly timeout?: Duration.Input
  readonly returnCharLimit?: number
}

export interface Options {
  /** Prepended to every tool name (e.g. `"github_"`), to keep several servers' tools apart. */
  readonly prefix?: string
  readonly tools?: Readonly<Record<string, ToolOverride>>
  /** How long one call may take before it is cancelled (`notifications/cancelled`). Default 60 seconds. */
  readonly timeout?: Duration.Input
  /** How long starting and initializing the server may take. Default 30 seconds. */
  readonly startTimeout?: Duration.Input
  /** Attempts after the first to start or respawn the server. Default 3. */
  readonly retries?: number
  /** The first backoff delay between attempts, doubling each time. Default 200 ms. */
  readonly backoff?: Duration.Input
}

/** The server's tools at one point in time, with the handlers that call them. */
export interface Snapshot {
  readonly toolkit: Toolkit.Any
  /** Provides the handlers of `toolkit`'s tools. */
  readonly layer: Layer.Layer<Tool.Handler<string>>
  /** The tools as the server listed them. */
  readonly remote: ReadonlyArray<McpTool>
}

export interface McpToolkit extends Snapshot {
  /** The latest snapshot: updated on `notifications/tools/list_changed` and after a respawn. */
  readonly current: Effect.Effect<Snapshot>
  readonly changes: Stream.Stream<Snapshot>
  /** Lists the tools again now. */
  readonly refresh: Effect.Effect<Snapshot, McpStartFailed>
  /** The process id of a stdio server (for diagnostics); undefined over HTTP or while it is down. */
  readonly pid: () => number | undefined
}

const DEFAULT_TIMEOUT = Duration.seconds(60)

/** A name every model provider accepts: other characters become `_`, cut to 64. */
export const localName = (prefix: string, name: string): string => `${prefix}${name}`.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)

/** The agentloop tool for one MCP tool: annotations give the defaults, overrides win. */
export const toolFor = (tool: McpTool, options: Options): Tool.Any => {
  const override = options.tools?.[tool.name]
  return DynamicTool.make(localName(options.prefix ?? "", tool.name), {
    description: tool.description ?? tool.title ?? tool.annotations?.title ?? tool.name,
    parameters: tool.inputSchema,
    requiresApproval: override?.requiresApproval ?? tool.annotations?.destructiveHint === true,
    parallel: override?.parallel ?? tool.annotations?.readOnlyHint === true,
    ...(override?.returnCharLimit === undefined ? {} : { returnCharLimit: override.returnCharLimit })
  })
}

/** What a successful call returns to the model: structured content, else the text, else the content blocks. */
export const resultValue = (result: CallToolResult): unknown => {
  if (result.structuredContent !== undefined) return result.structuredContent
  const content = result.content ?? []
  return content.every((block) => block.type === "text") ? content.map((block) => block.text).join("\n") : content
}

const textOf = (result: CallToolResult): string =>
  (result.content ?? []).map((block) => (block.type === "text" ? block.text : `[${block.type}]`)).join("\n") || "the tool reported an error"

/**
 * Whether a call's error means the session is gone: the connection closed, the HTTP server forgot the
 * session (404), or the transport itself failed (refused connection, broken pipe). The session is then
 * closed, so the next call starts a new one.
 */
export const sessionLost = (error: unknown): boolean =>
  error instanceof McpError
    ? error.code === ErrorCode.ConnectionClosed
    : error instanceof StreamableHTTPError
      ? error.code === 404
      : true

/** Maps what the SDK throws for a call to the typed error the model sees. */
export const callError = (server: string, tool: string, timeoutMs: number, error: unknown): CallError => {
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
    return new McpCallTimeout({ server, tool, timeoutMs, message: `The call did not finish within ${timeoutMs} ms and was cancelled.` })
  }
  if (sessionLost(error)) {
    return new McpConnectionLost({ server, tool, message: "The MCP server went away during the call; it is restarted for the next call." })
  }
  const code = error instanceof McpError || error instanceof StreamableHTTPError ? (error.code ?? ErrorCode.InternalError) : ErrorCode.InternalError
  return new McpCallFailed({ server, tool, code, message: error instanceof Error ? error.message : String(error) })
}

/** All pages of `tools/list` (stopping on a repeated cursor). */
const listAll = (connection: McpConnection.Connection, live: McpConnection.Live): Effect.Effect<Array<McpTool>, McpStartFailed> =>
  Effect.tryPromise({
    try: async () => {
      const tools: Array<McpTool> = []
      const seen = new Set<string>()
      let cursor: string | undefined
      do {
        const page = await live.client.listTools(cursor === undefined ? undefined : { cursor })
        tools.push(...page.tools)
        cursor = page.nextCursor
        if (cursor !== undefined && seen.has(cursor)) break
        if (cursor !== undefined) seen.add(cursor)
      } while (cursor !== undefined)
      return tools
    },
    catch: (error) => McpConnection.startFailed(connection, `tools/list failed: ${error instanceof Error ? error.message : String(error)}`)
  })

/**
 * Connects to the server (spawning it for stdio), lists its tools and returns them as a toolkit. The
 * server is closed (its process ended) when the scope closes.
 */
export const make = (
  connection: McpConnection.Connection,
  options: Options = {}
): Effect.Effect<McpToolkit, McpStartFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const defaultTimeout = options.timeout === undefined ? DEFAULT_TIMEOUT : Duration.fromInputUnsafe(options.timeout)
    // Error messages come from the server: the values we gave it (env, token) are hidden in them.
    const scrub = McpConnection.scrubber(connection)
    const runFork = yield* FiberSet.makeRuntime<never>()
    // Defined below; the session calls back into it when the server says its tools changed.
    let refreshInBackground = (): void => undefined
    const session = yield* McpConnection.session(connection, {
      startTimeout: options.startTimeout === undefined ? Duration.seconds(30) : Duration.fromInputUnsafe(options.startTimeout),
      retries: options.retries ?? 3,
      backoff: options.backoff === undefined ? Duration.millis(200) : Duration.fromInputUnsafe(options.backoff),
      onToolsChanged: () => refreshInBackground(),
      onReconnect: () => refreshInBackground()
    })

    /**
     * One call on a connected session, as a single async step: the SDK's promise settles it, so a call costs
     * one fiber suspension and no further Effect steps (this is the hot path of every MCP tool call).
     * Interrupting it aborts the signal: the SDK then sends `notifications/cancelled`.
     */
    const callOn = (live: McpConnection.Live, remoteName: string, args: Record<string, unknown>, timeoutMs: number) =>
      Effect.callback<unknown, CallError>((resume, signal) => {
        // Resumed exactly once; a mapping that throws is a defect of this call, as it would be in `Effect.sync`.
        const settle = (exit: () => Exit.Exit<unknown, CallError>) => {
          let settled: Exit.Exit<unknown, CallError>
          try {
            settled = exit()
          } catch (error) {
            settled = Exit.die(error)
          }
          resume(settled)
        }
        try {
          live.client.callTool({ name: remoteName, arguments: args }, undefined, { signal, timeout: timeoutMs }).then(
            (result) =>
              settle(() =>
                result.isError === true
                  ? Exit.fail(new McpToolError({ server: connection.name, tool: remoteName, message: scrub(textOf(result as CallToolResult)) }))
                  : Exit.succeed(resultValue(result as CallToolResult))
              ),
            // After an interruption the fiber has moved on: the SDK's abort rejection is not ours to map.
            (error) => {
              if (!signal.aborted) settle(() => Exit.fail(failure(live, remoteName, timeoutMs, error)))
            }
          )
        } catch (error) {
          settle(() => Exit.fail(failure(live, remoteName, timeoutMs, error)))
        }
      })

    const failure = (live: McpConnection.Live, remoteName: string, timeoutMs: number, error: unknown): CallError => {
      if (sessionLost(error)) void live.client.close().catch(() => undefined)
      const mapped = callError(connection.name, remoteName, timeoutMs, error)
      return mapped._tag === "McpCallFailed" ? new McpCallFailed({ ...mapped, message: scrub(mapped.message) }) : mapped
    }

    const call = (remoteName: string, timeoutMs: number, args: Record<string, unknown>): Effect.Effect<unknown, CallError> =>
      Effect.suspend(() => {
        // A connected session is used as it is; otherwise `session.get` starts (or waits for) one.
        const live = session.current()
        return live !== undefined && !live.closed
          ? callOn(live, remoteName, args, timeoutMs)
          : session.get.pipe(
              Effect.mapError((error) => McpConnection.unavailable(connection, remoteName, error)),
              Effect.flatMap((live) => callOn(live, remoteName, args, timeoutMs))
            )
      })

    /** A tool's call timeout in milliseconds: its override, else the toolkit's. */
    const timeoutOf = (remoteName: string): number => {
      const override = options.tools?.[remoteName]?.timeout
      return Duration.toMillis(override === undefined ? defaultTimeout : Duration.fromInputUnsafe(override))
    }

    const snapshotOf = (remote: ReadonlyArray<McpTool>): Snapshot => {
      const tools: Array<Tool.Any> = []
      const handlers: Record<string, Tool.AnyHandlerFn> = {}
      for (const tool of remote) {
        const local = toolFor(tool, options)
        // Two server names that map to one local name: the first one listed wins.
        if (handlers[local.name] !== undefined) continue
        tools.push(local)
        const timeoutMs = timeoutOf(tool.name)
        handlers[local.name] = (args: Record<string, unknown>) => call(tool.name, timeoutMs, args)
      }
      const toolkit = Toolkit.make(...tools) as unknown as Toolkit.Any
      return { toolkit, layer: toolkit.toLayer(handlers), remote }
    }

    const lock = yield* Semaphore.make(1)
    const first = snapshotOf(yield* Effect.flatMap(session.get, (live) => listAll(connection, live)))
    const ref = yield* SubscriptionRef.make(first)
    const refresh = lock.withPermits(1)(
      session.get.pipe(
        Effect.flatMap((live) => listAll(connection, live)),
        Effect.map(snapshotOf),
        Effect.tap((snapshot) => SubscriptionRef.set(ref, snapshot))
      )
    )
    refreshInBackground = () => void runFork(Effect.ignore(refresh))

    return {
      ...first,
      current: SubscriptionRef.get(ref),
      changes: SubscriptionRef.changes(ref),
      refresh,
      pid: () => session.current()?.pid
    }
  })

/**
 * The local loop running an agent over an MCP server's tools: `makeAgent` gets the toolkit listed at
 * start. The server is closed when the layer's scope closes.
 */
export const layerLocal = (
  connection: McpConnection.Connection,
  makeAgent: (toolkit: Toolkit.Any) => Agent.Agent<Record<string, Tool.Any>>,
  options?: Options
): Layer.Layer<AgentBackend.AgentBackend, Loop.LoopError | McpStartFailed, Loop.Requirements<{}>> =>
  Layer.unwrap(
    Effect.map(make(connection, options), (mcp) => AgentBackend.layerLocal(makeAgent(mcp.toolkit)).pipe(Layer.provide(mcp.layer)))
  )

/** An agent named `name` over the MCP toolkit, with the given agent options. */
export const agent =
  (name: string, agentOptions: Omit<Agent.Options<Record<string, Tool.Any>>, "name" | "toolkit"> = {}) =>
  (toolkit: Toolkit.Any): Agent.Agent<Record<string, Tool.Any>> =>
    Agent.make({ ...agentOptions, name, toolkit })

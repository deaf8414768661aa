/**
 * An MCP server's tools as an agentloop toolkit. Parameters are the server's JSON Schemas as they are;
 * results become tool results; MCP errors become typed tool failures. Annotations set the defaults as the
 * MCP specification reads them (a tool that does not say it is read-only, nor that it is not destructive,
 * may be destructive and needs approval; `readOnlyHint: true` may run in parallel), and the user's policy
 * (`requiresApproval`, per-tool overrides) wins. The tool rules and `Approvals` of the agent apply as to any
 * local tool. A hostile server cannot hang or crash the client: listing is bounded, a malformed answer is a
 * typed error of that call only. With an `elicitation` handler the client declares elicitation and answers the
 * server's questions during a call (see `McpElicitation`).
 *
 * @since 0.1.0
 */
import { Agent, AgentBackend, DynamicTool, type Loop, type Tool, Toolkit } from "@agentloop/core"
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import {
  type CallToolResult,
  type ElicitRequestFormParams,
  type ElicitResult,
  ErrorCode,
  McpError,
  type Tool as McpTool,
  type ToolAnnotations
} from "@modelcontextprotocol/sdk/types.js"
import { Duration, Effect, Exit, FiberSet, Layer, Option, Result, type Scope, Semaphore, type Stream, SubscriptionRef } from "effect"
import * as McpConnection from "./McpConnection.js"
import * as McpElicitation from "./McpElicitation.js"
import {
  type CallError,
  McpCallFailed,
  McpCallTimeout,
  McpConnectionLost,
  McpProtocolError,
  type McpStartFailed,
  McpToolError
} from "./McpError.js"

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
  /**
   * Whether a tool without a `requiresApproval` override needs approval. Default `annotationsRequireApproval`:
   * the MCP specification's defaults (unannotated means possibly destructive). Annotations come from the
   * server: when you do not trust it, say `() => true`.
   */
  readonly requiresApproval?: (tool: McpTool) => boolean
  /** `tools/list` pages at most (default 100): a server that pages on is a `McpProtocolError`, not a hang. */
  readonly maxListPages?: number
  /** Tools at most over all pages (default 1,000). */
  readonly maxTools?: number
  /**
   * Answers the server's elicitations (form mode), e.g. `McpElicitation.fromApprovals` for approval requests.
   * Given, the client declares the `elicitation` capability; not given, it declares none (a server then has
   * no one to ask). An accepted answer gets the schema's defaults and is checked against it before it is sent.
   */
  readonly elicitation?: McpElicitation.Handler
  /** How long the handler may take; past it the answer is `cancel`. Default 2 minutes. */
  readonly elicitationTimeout?: Duration.Input
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
  readonly refresh: Effect.Effect<Snapshot, McpStartFailed | McpProtocolError>
  /** The process id of a stdio server (for diagnostics); undefined over HTTP or while it is down. */
  readonly pid: () => number | undefined
}

const DEFAULT_TIMEOUT = Duration.seconds(60)
const DEFAULT_ELICITATION_TIMEOUT = Duration.minutes(2)
const MAX_LIST_PAGES = 100
const MAX_TOOLS = 1_000

/** A name every model provider accepts: other characters become `_`, cut to 64. */
export const localName = (prefix: string, name: string): string => `${prefix}${name}`.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)

/**
 * The MCP specification's defaults: `readOnlyHint` is false and `destructiveHint` true unless the server says
 * otherwise, so only a tool that says it is read-only, or that it is not destructive, runs without approval.
 */
export const annotationsRequireApproval = (annotations: ToolAnnotations | undefined): boolean =>
  annotations?.readOnlyHint !== true && annotations?.destructiveHint !== false

/** The override for a server tool name: own entries only (a tool named `toString` has none by default). */
const overrideOf = (options: Options, name: string): ToolOverride | undefined =>
  options.tools !== undefined && Object.hasOwn(options.tools, name) ? options.tools[name] : undefined

/** The agentloop tool for one MCP tool: annotations give the defaults, the user's policy and overrides win. */
export const toolFor = (tool: McpTool, options: Options): Tool.Any => {
  const override = overrideOf(options, tool.name)
  return DynamicTool.make(localName(options.prefix ?? "", tool.name), {
    description: tool.description ?? tool.title ?? tool.annotations?.title ?? tool.name,
    parameters: tool.inputSchema,
    requiresApproval:
      override?.requiresApproval ?? (options.requiresApproval === undefined ? annotationsRequireApproval(tool.annotations) : options.requiresApproval(tool)),
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
 * The issues of an answer the SDK refused because it does not match the result schema (a Zod error, v3 or
 * v4: both carry `issues`), or undefined for any other error.
 */
const invalidAnswer = (error: unknown): string | undefined => {
  const issues = typeof error === "object" && error !== null ? (error as { readonly issues?: unknown }).issues : undefined
  if (!Array.isArray(issues)) return undefined
  return issues
    .slice(0, 3)
    .map((issue: { readonly path?: ReadonlyArray<PropertyKey>; readonly message?: unknown }) =>
      `${(issue.path ?? []).map(String).join(".") || "(root)"}: ${String(issue.message)}`
    )
    .join("; ")
    .slice(0, 500)
}

/**
 * Whether a call's error means the session is gone: the connection closed, the HTTP server forgot the
 * session (404), or the transport itself failed (refused connection, broken pipe). The session is then
 * closed, so the next call starts a new one. A malformed answer is not one: the connection is fine.
 */
export const sessionLost = (error: unknown): boolean =>
  error instanceof McpError
    ? error.code === ErrorCode.ConnectionClosed
    : error instanceof StreamableHTTPError
      ? error.code === 404
      : invalidAnswer(error) === undefined

/** Maps what the SDK throws for a call to the typed error the model sees. */
export const callError = (server: string, tool: string, timeoutMs: number, error: unknown): CallError => {
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
    return new McpCallTimeout({ server, tool, timeoutMs, message: `The call did not finish within ${timeoutMs} ms and was cancelled.` })
  }
  const invalid = invalidAnswer(error)
  if (invalid !== undefined) {
    return new McpProtocolError({ server, tool, message: `The server's answer is not a valid tools/call result (${invalid}).` })
  }
  if (sessionLost(error)) {
    return new McpConnectionLost({ server, tool, message: "The MCP server went away during the call; it is restarted for the next call." })
  }
  const code = error instanceof McpError || error instanceof StreamableHTTPError ? (error.code ?? ErrorCode.InternalError) : ErrorCode.InternalError
  return new McpCallFailed({ server, tool, code, message: error instanceof Error ? error.message : String(error) })
}

/** Limits on one listing; a server past them broke the protocol. */
interface ListLimits {
  readonly pages: number
  readonly tools: number
  /** Per page. */
  readonly timeoutMs: number
}

/** Why a listing is refused: too many pages or tools, a repeated cursor, or a tool without a name. */
class ListRefused {
  constructor(readonly reason: string) {}
}

/**
 * All pages of `tools/list`, bounded: at most `limits.pages` pages and `limits.tools` tools, no cursor twice
 * (a server that pages on, or in a circle, would otherwise hang the client with memory growing), every tool
 * named. Each page waits `limits.timeoutMs` at most.
 */
const listAll = (
  connection: McpConnection.Connection,
  live: McpConnection.Live,
  limits: ListLimits
): Effect.Effect<Array<McpTool>, McpStartFailed | McpProtocolError> =>
  Effect.tryPromise({
    try: async () => {
      const tools: Array<McpTool> = []
      const seen = new Set<string>()
      let cursor: string | undefined
      for (let pages = 1; ; pages++) {
        const page = await live.client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: limits.timeoutMs })
        for (const tool of page.tools) {
          if (tool.name === "") throw new ListRefused(`tool #${tools.length + 1} has an empty name`)
          tools.push(tool)
        }
        if (tools.length > limits.tools) throw new ListRefused(`it listed more than ${limits.tools} tools`)
        cursor = page.nextCursor
        if (cursor === undefined) return tools
        if (seen.has(cursor)) throw new ListRefused(`it repeated the cursor ${JSON.stringify(cursor.slice(0, 64))}`)
        if (pages >= limits.pages) throw new ListRefused(`it did not end within ${limits.pages} pages`)
        seen.add(cursor)
      }
    },
    catch: (error) => {
      const scrub = McpConnection.scrubber(connection)
      if (error instanceof ListRefused) {
        return new McpProtocolError({ server: connection.name, tool: "", message: scrub(`tools/list refused: ${error.reason}.`) })
      }
      const invalid = invalidAnswer(error)
      if (invalid !== undefined) {
        return new McpProtocolError({ server: connection.name, tool: "", message: scrub(`tools/list answer is not valid (${invalid}).`) })
      }
      return McpConnection.startFailed(connection, `tools/list failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  })

/**
 * The connection's answers to elicitations: the handler, bounded by the timeout (then `cancel`; a handler that
 * dies cancels too), its accepted content validated (an invalid one is answered with a JSON-RPC error naming
 * the field, and logged). `calls` holds the calls in flight, by the token sent in their `_meta`.
 */
const elicitationAnswerer = (connection: McpConnection.Connection, handler: McpElicitation.Handler, options: Options) =>
  Effect.gen(function* () {
    const runPromise = Effect.runPromiseWith(yield* Effect.context<never>())
    const timeout = options.elicitationTimeout ?? DEFAULT_ELICITATION_TIMEOUT
    const scrub = McpConnection.scrubber(connection)
    const calls = new Map<string, McpElicitation.Call>()
    const callOf = (params: ElicitRequestFormParams): McpElicitation.Call | undefined => {
      const token = params._meta?.[McpElicitation.CALL_META]
      if (typeof token === "string") return calls.get(token)
      return calls.size === 1 ? calls.values().next().value : undefined
    }
    const answer = async (raw: unknown, signal: AbortSignal): Promise<ElicitResult> => {
      const checked = McpElicitation.checkRequest(connection.name, raw)
      if (Result.isFailure(checked)) throw new McpError(ErrorCode.InvalidParams, scrub(checked.failure.message))
      const params = checked.success
      const request: McpElicitation.Request = { server: connection.name, message: params.message, requestedSchema: params.requestedSchema, call: callOf(params) }
      const given = await runPromise(
        handler(request).pipe(
          Effect.timeoutOption(timeout),
          Effect.map(Option.getOrElse(() => McpElicitation.cancel)),
          Effect.catchCause(() => Effect.succeed(McpElicitation.cancel))
        ),
        { signal }
      )
      const sent = McpElicitation.respond(request, given)
      if (Result.isSuccess(sent)) return sent.success
      await runPromise(Effect.logWarning(sent.failure.message))
      throw new McpError(ErrorCode.InternalError, scrub(sent.failure.message))
    }
    return { answer, calls }
  })

/**
 * Connects to the server (spawning it for stdio), lists its tools and returns them as a toolkit. The
 * server is closed (its process ended) when the scope closes.
 */
export const make = (
  connection: McpConnection.Connection,
  options: Options = {}
): Effect.Effect<McpToolkit, McpStartFailed | McpProtocolError, Scope.Scope> =>
  Effect.gen(function* () {
    const defaultTimeout = options.timeout === undefined ? DEFAULT_TIMEOUT : Duration.fromInputUnsafe(options.timeout)
    const startTimeout = options.startTimeout === undefined ? Duration.seconds(30) : Duration.fromInputUnsafe(options.startTimeout)
    const limits: ListLimits = {
      pages: options.maxListPages ?? MAX_LIST_PAGES,
      tools: options.maxTools ?? MAX_TOOLS,
      timeoutMs: Duration.toMillis(startTimeout)
    }
    // Error messages come from the server: the values we gave it (env, token) are hidden in them.
    const scrub = McpConnection.scrubber(connection)
    const runFork = yield* FiberSet.makeRuntime<never>()
    // Defined below; the session calls back into it when the server says its tools changed.
    let refreshInBackground = (): void => undefined
    const elicitation = options.elicitation === undefined ? undefined : yield* elicitationAnswerer(connection, options.elicitation, options)
    const session = yield* McpConnection.session(connection, {
      elicitation: elicitation?.answer,
      startTimeout,
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
    const callOn = (live: McpConnection.Live, remoteName: string, args: Record<string, unknown>, timeoutMs: number, token?: string) =>
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
          const params = token === undefined ? { name: remoteName, arguments: args } : { name: remoteName, arguments: args, _meta: { [McpElicitation.CALL_META]: token } }
          live.client.callTool(params, undefined, { signal, timeout: timeoutMs }).then(
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
      switch (mapped._tag) {
        case "McpCallFailed":
          return new McpCallFailed({ server: mapped.server, tool: mapped.tool, code: mapped.code, message: scrub(mapped.message) })
        case "McpProtocolError":
          return new McpProtocolError({ server: mapped.server, tool: mapped.tool, message: scrub(mapped.message) })
        default:
          return mapped
      }
    }

    const call = (remoteName: string, timeoutMs: number, args: Record<string, unknown>, token?: string): Effect.Effect<unknown, CallError> =>
      Effect.suspend(() => {
        // A connected session is used as it is; otherwise `session.get` starts (or waits for) one.
        const live = session.current()
        return live !== undefined && !live.closed
          ? callOn(live, remoteName, args, timeoutMs, token)
          : session.get.pipe(
              Effect.mapError((error) => McpConnection.unavailable(connection, remoteName, error)),
              Effect.flatMap((live) => callOn(live, remoteName, args, timeoutMs, token))
            )
      })

    /** With an elicitation handler, the call is known while it runs, so an elicitation can name it. */
    const tracked = (remoteName: string, tool: string, timeoutMs: number): Tool.AnyHandlerFn =>
      elicitation === undefined
        ? (args: Record<string, unknown>) => call(remoteName, timeoutMs, args)
        : (args: Record<string, unknown>, context: Tool.HandlerContext) =>
            Effect.suspend(() => {
              const token = crypto.randomUUID()
              elicitation.calls.set(token, { tool, remoteTool: remoteName, arguments: args, context })
              return Effect.ensuring(call(remoteName, timeoutMs, args, token), Effect.sync(() => elicitation.calls.delete(token)))
            })

    /** A tool's call timeout in milliseconds: its override, else the toolkit's. */
    const timeoutOf = (remoteName: string): number => {
      const override = overrideOf(options, remoteName)?.timeout
      return Duration.toMillis(override === undefined ? defaultTimeout : Duration.fromInputUnsafe(override))
    }

    const snapshotOf = (remote: ReadonlyArray<McpTool>): Snapshot => {
      const tools: Array<Tool.Any> = []
      // No prototype: a remote tool named `toString` or `__proto__` is an entry like any other.
      const handlers: Record<string, Tool.AnyHandlerFn> = Object.create(null)
      for (const tool of remote) {
        const local = toolFor(tool, options)
        // Two server names that map to one local name: the first one listed wins.
        if (handlers[local.name] !== undefined) continue
        tools.push(local)
        handlers[local.name] = tracked(tool.name, local.name, timeoutOf(tool.name))
      }
      const toolkit = Toolkit.make(...tools) as unknown as Toolkit.Any
      return { toolkit, layer: toolkit.toLayer(handlers), remote }
    }

    const lock = yield* Semaphore.make(1)
    const first = snapshotOf(yield* Effect.flatMap(session.get, (live) => listAll(connection, live, limits)))
    const ref = yield* SubscriptionRef.make(first)
    const refresh = lock.withPermits(1)(
      session.get.pipe(
        Effect.flatMap((live) => listAll(connection, live, limits)),
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
): Layer.Layer<AgentBackend.AgentBackend, Loop.LoopError | McpStartFailed | McpProtocolError, Loop.Requirements<{}>> =>
  Layer.unwrap(
    Effect.map(make(connection, options), (mcp) => AgentBackend.layerLocal(makeAgent(mcp.toolkit)).pipe(Layer.provide(mcp.layer)))
  )

/** An agent named `name` over the MCP toolkit, with the given agent options. */
export const agent =
  (name: string, agentOptions: Omit<Agent.Options<Record<string, Tool.Any>>, "name" | "toolkit"> = {}) =>
  (toolkit: Toolkit.Any): Agent.Agent<Record<string, Tool.Any>> =>
    Agent.make({ ...agentOptions, name, toolkit })

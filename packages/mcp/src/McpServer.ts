/**
 * An agentloop toolkit as an MCP server, over stdio or Streamable HTTP. Each call goes through the same
 * guard rails as in the loop: a call that needs approval asks the connected client through MCP
 * elicitation when it supports it, then the `Approvals` service if one is provided, and is refused if
 * neither answers. Handlers (and with them grants, redaction and audit) run unchanged; every call is
 * reported to the `EventObserver` if there is one, with the events the loop emits (`ToolCalled`,
 * `ApprovalDecided`, `ToolResult`), so one observer audits refusals (unknown tool, invalid arguments,
 * denied) from the loop and from MCP alike.
 *
 * @since 0.1.0
 */
import { AgentEvent, Approval, type Tool, Toolkit } from "@agentloop/core"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js"
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  type ListToolsResult,
  ListToolsRequestSchema,
  McpError,
  type ServerNotification,
  type ServerRequest,
  type ToolAnnotations
} from "@modelcontextprotocol/sdk/types.js"
import { Deferred, Duration, Effect, Option, Result, type Scope } from "effect"
import { CALL_META } from "./McpElicitation.js"

export interface Options {
  /** The server name announced to clients. Default `"agentloop"`. */
  readonly name?: string
  readonly version?: string
  /**
   * Annotations per tool. Default: `destructiveHint: true` for tools that need approval, nothing otherwise
   * (a client then assumes the worst). Give the tool set's own risk metadata here.
   */
  readonly annotations?: (tool: Tool.Any) => ToolAnnotations | undefined
  /** Ask the client through elicitation when it supports it. Default true. */
  readonly elicitation?: boolean
  /** How long to wait for the client's user to answer an elicitation. Default 5 minutes. */
  readonly approvalTimeout?: Duration.Input
  /**
   * Streamable HTTP with replay (SEP-1699 polling): a call still running after this long has its SSE stream
   * closed by the server; the client reconnects after the `retry` interval with `Last-Event-ID` and gets the
   * result (and anything else sent meanwhile) from the session's replay buffer. Keeps long calls alive behind
   * proxies that cut long responses. Default: streams stay open until the result.
   */
  readonly closeStreamAfter?: Duration.Input
}

/** Refused calls say why, to the client and (as `ApprovalDecided`) to the event observer. */
type Decision =
  | { readonly _tag: "Approved"; readonly by: string; readonly reason?: string }
  | { readonly _tag: "Denied"; readonly by: string; readonly reason: string }

const NOBODY = "no approver answered: the client does not support elicitation (or did not answer) and no Approvals service decided"

export const defaultAnnotations = (tool: Tool.Any): ToolAnnotations | undefined =>
  tool.requiresApproval === false ? undefined : { destructiveHint: true }

type InputSchema = ListToolsResult["tools"][number]["inputSchema"]

/**
 * MCP requires `type: "object"` at the root. Tool parameters are always a struct; no parameters at all (an
 * empty struct, which core describes as a closed object without properties) is listed as the plain empty
 * object schema `{ type: "object", properties: {} }`, as before.
 */
export const inputSchemaOf = (tool: Tool.Any): InputSchema => {
  const parameters = tool.definition.parameters as
    | { readonly type?: unknown; readonly properties?: object; readonly additionalProperties?: unknown; readonly patternProperties?: unknown }
    | undefined
  const empty =
    parameters?.type !== "object" ||
    ((parameters.properties === undefined || Object.keys(parameters.properties).length === 0) &&
      (parameters.additionalProperties === undefined || parameters.additionalProperties === false) &&
      parameters.patternProperties === undefined)
  return empty ? { type: "object", properties: {} } : (parameters as InputSchema)
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

/** Makes MCP `Server`s (one per session) that list and call the toolkit's tools. */
export interface Factory {
  readonly newServer: () => Server
}

/** Binds the toolkit to its handlers and the optional `Approvals` and `EventObserver` in context. */
export const factory = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>,
  options: Options = {}
): Effect.Effect<Factory, Toolkit.MissingHandlers, Toolkit.HandlerIds<Tools>> =>
  Effect.gen(function* () {
    const resolved = yield* Toolkit.resolve(toolkit)
    const approvals = Option.getOrUndefined(yield* Effect.serviceOption(Approval.Approvals))
    const observer = Option.getOrUndefined(yield* Effect.serviceOption(AgentEvent.EventObserver))
    const runPromise = Effect.runPromiseWith(yield* Effect.context<never>())
    const annotate = options.annotations ?? defaultAnnotations
    const approvalTimeoutMs = Duration.toMillis(options.approvalTimeout ?? Duration.minutes(5))
    const closeStreamAfterMs = options.closeStreamAfter === undefined ? undefined : Duration.toMillis(options.closeStreamAfter)
    const listed: ListToolsResult = {
      tools: [...resolved.tools.values()].map((tool) => {
        const annotations = annotate(tool)
        return {
          name: tool.name,
          description: tool.description,
          inputSchema: inputSchemaOf(tool),
          ...(annotations === undefined ? {} : { annotations })
        }
      })
    }
    const runId = `mcp_${crypto.randomUUID().replaceAll("-", "")}`

    const askClient = (server: Server, request: Approval.ApprovalRequest, extra: Extra, callToken: unknown): Effect.Effect<Option.Option<Decision>> => {
      if (options.elicitation === false || server.getClientCapabilities()?.elicitation === undefined) return Effect.succeedNone
      const by = server.getClientVersion()?.name ?? "mcp-client"
      return Effect.tryPromise((signal) =>
        server.elicitInput(
          {
            message: `Allow the tool "${request.toolName}" to run with these arguments?\n${JSON.stringify(request.arguments, null, 2)}`,
            requestedSchema: {
              type: "object",
              properties: {
                approve: { type: "boolean", title: "Approve", description: `Run ${request.toolName}` },
                reason: { type: "string", title: "Reason" }
              },
              required: ["approve"]
            },
            // The client's token for the call (our client sends one), so it knows which call asks.
            ...(typeof callToken === "string" ? { _meta: { [CALL_META]: callToken } } : {})
          },
          { relatedRequestId: extra.requestId, timeout: approvalTimeoutMs, signal }
        )
      ).pipe(
        Effect.map((result): Option.Option<Decision> => {
          const reason = typeof result.content?.["reason"] === "string" ? (result.content["reason"] as string) : undefined
          if (result.action === "accept" && result.content?.["approve"] === true) {
            return Option.some({ _tag: "Approved", by, ...(reason === undefined ? {} : { reason }) })
          }
          return Option.some({ _tag: "Denied", by, reason: reason ?? `the client's user ${result.action === "cancel" ? "cancelled" : "declined"} the call` })
        }),
        // No answer (unsupported, timed out, dropped): the next approver is asked.
        Effect.orElseSucceed(() => Option.none<Decision>())
      )
    }

    const askApprovals = (request: Approval.ApprovalRequest): Effect.Effect<Option.Option<Decision>> =>
      approvals === undefined
        ? Effect.succeedNone
        : Effect.map(approvals.decide(request), (verdict): Option.Option<Decision> =>
            verdict._tag === "Approved"
              ? Option.some({ _tag: "Approved", by: verdict.by ?? "approvals", ...(verdict.reason === undefined ? {} : { reason: verdict.reason }) })
              : verdict._tag === "Denied"
                ? Option.some({ _tag: "Denied", by: verdict.by ?? "approvals", reason: verdict.reason })
                : Option.none() // An MCP call cannot be suspended: no answer now is no answer.
          )

    const decide = (server: Server, request: Approval.ApprovalRequest, extra: Extra, callToken: unknown): Effect.Effect<Decision> =>
      Effect.flatMap(askClient(server, request, extra, callToken), (fromClient) =>
        Option.isSome(fromClient)
          ? Effect.succeed(fromClient.value)
          : Effect.map(askApprovals(request), (fromService) =>
              Option.getOrElse(fromService, (): Decision => ({ _tag: "Denied", by: "mcp-server", reason: NOBODY }))
            )
      )

    const reportCall = (toolCallId: string, toolName: string, args: unknown) =>
      observer?.observe(AgentEvent.ToolCalled.make({ runId, step: 0, toolCallId, toolName, arguments: args }))

    /** The call's answer, reported as the loop reports a result. */
    const finish = (toolCallId: string, toolName: string, execution: Pick<Toolkit.Execution, "content" | "isError" | "errorKind">): CallToolResult => {
      observer?.observe(
        AgentEvent.ToolResult.make({
          runId,
          step: 0,
          toolCallId,
          toolName,
          content: execution.content,
          isError: execution.isError,
          ...(execution.errorKind === undefined ? {} : { errorKind: execution.errorKind })
        })
      )
      return { content: [{ type: "text", text: execution.content }], ...(execution.isError ? { isError: true } : {}) }
    }

    const report = (request: Approval.ApprovalRequest, decision: Decision) =>
      observer?.observe(
        AgentEvent.ApprovalDecided.make({
          runId: request.runId,
          step: 0,
          toolCallId: request.toolCallId,
          toolName: request.toolName,
          arguments: request.arguments,
          approved: decision._tag === "Approved",
          decidedBy: decision.by,
          ...(decision.reason === undefined ? {} : { reason: decision.reason })
        })
      )

    const call = (server: Server, params: CallToolRequest["params"], extra: Extra): Effect.Effect<CallToolResult> =>
      Effect.gen(function* () {
        const toolCallId = `mcp_${extra.sessionId ?? "stdio"}_${String(extra.requestId)}`
        const tool = resolved.tools.get(params.name)
        if (tool === undefined) return finish(toolCallId, params.name, Toolkit.unknownTool(params.name, [...resolved.tools.keys()]))
        const args = (params.arguments ?? {}) as Record<string, unknown>
        reportCall(toolCallId, tool.name, args)
        let approval: Tool.HandlerContext["approval"]
        if (tool.requiresApproval !== false) {
          const decoded = Toolkit.decodeArguments(tool, args)
          if (Result.isFailure(decoded)) return finish(toolCallId, tool.name, decoded.failure)
          const needed = typeof tool.requiresApproval === "function" ? tool.requiresApproval(decoded.success as never) : true
          if (needed) {
            const request: Approval.ApprovalRequest = {
              runId,
              step: 0,
              toolCallId,
              toolName: tool.name,
              arguments: args,
              argumentsDigest: Approval.argumentsDigest(args)
            }
            const decision = yield* decide(server, request, extra, params._meta?.[CALL_META])
            report(request, decision)
            if (decision._tag === "Denied") {
              return finish(toolCallId, tool.name, Toolkit.errorResult("Denied", `The call to ${tool.name} was refused (by ${decision.by}): ${decision.reason}`))
            }
            approval = { decidedBy: decision.by, ...(decision.reason === undefined ? {} : { reason: decision.reason }) }
          }
        }
        const execution = yield* Toolkit.execute(resolved, { name: params.name, args }, {
          runId,
          toolCallId,
          idempotencyKey: toolCallId,
          ...(approval === undefined ? {} : { approval })
        })
        return finish(toolCallId, tool.name, execution)
      })

    const newServer = (): Server => {
      const server = new Server({ name: options.name ?? "agentloop", version: options.version ?? "0.1.0" }, { capabilities: { tools: {} } })
      // One page holds every tool: no cursor was ever handed out, so any cursor is invalid (-32602, as the
      // specification asks), not silently the first page again.
      server.setRequestHandler(ListToolsRequestSchema, (request) => {
        if (request.params?.cursor !== undefined) {
          throw new McpError(ErrorCode.InvalidParams, "Invalid cursor: this server lists every tool in one page and hands out no cursors")
        }
        return listed
      })
      // The client's `notifications/cancelled` aborts `extra.signal`, which interrupts the handler.
      server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
        // Set by the transport only when the session has a replay buffer and the client can resume.
        const closeStream = extra.closeSSEStream
        if (closeStreamAfterMs === undefined || closeStream === undefined) return runPromise(call(server, request.params, extra), { signal: extra.signal })
        const timer = setTimeout(closeStream, closeStreamAfterMs)
        return runPromise(call(server, request.params, extra), { signal: extra.signal }).finally(() => clearTimeout(timer))
      })
      return server
    }
    return { newServer }
  })

/** What a running server offers its owner. */
export interface Handle {
  /** The endpoint (Streamable HTTP only). */
  readonly url: string | undefined
  /** Completes when the transport closes (stdio: the client closed stdin). */
  readonly closed: Effect.Effect<void>
  /** The sessions open now (Streamable HTTP; stdio: 1 until the client leaves, then 0). */
  readonly sessions: Effect.Effect<number>
  /** The events held for replay over all sessions, and their size (Streamable HTTP; stdio: none). */
  readonly replayBuffer: Effect.Effect<{ readonly events: number; readonly bytes: number }>
  /**
   * The open HTTP responses over all sessions, and the bytes written to them that their clients have not read
   * yet (Streamable HTTP; stdio: none).
   */
  readonly sendBuffer: Effect.Effect<{ readonly streams: number; readonly bytes: number }>
}

/** Serves on this process's stdin/stdout until the client closes the stream or the scope closes. */
export const serveStdio = (factory: Factory): Effect.Effect<Handle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const closed = yield* Deferred.make<void>()
    const server = factory.newServer()
    const transport = new StdioServerTransport()
    let open = 1
    const end = () => {
      open = 0
      Deferred.doneUnsafe(closed, Effect.void)
    }
    server.onclose = end
    process.stdin.once("end", end)
    yield* Effect.acquireRelease(
      Effect.promise(() => server.connect(transport)),
      () => Effect.promise(() => server.close().catch(() => undefined))
    )
    return { url: undefined, closed: Deferred.await(closed), sessions: Effect.sync(() => open), replayBuffer: Effect.succeed({ events: 0, bytes: 0 }),
      sendBuffer: Effect.succeed({ streams: 0, bytes: 0 })
    }
  })

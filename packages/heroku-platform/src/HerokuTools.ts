/**
 * The Platform API as agent tools. `toolkit(grant)` offers only what the grant allows, with approvals on
 * the risky ones; `layer(grant)` provides the handlers, which re-check the grant, call Heroku, redact
 * secrets and write the audit log.
 *
 * @since 0.1.0
 */
import { Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, ParseResult, Schema } from "effect"
import { AuditLog, type Entry } from "./AuditLog.js"
import * as Grant from "./Grant.js"
import { HerokuClient, type Service as Client } from "./HerokuClient.js"
import type { HerokuError } from "./HerokuError.js"
import { byTool, type Operation, operations, pathOf } from "./Operations.js"
import type { InvalidRange } from "./Range.js"
import { MAX_PAGE_SIZE } from "./Range.js"

/** What the model sees when a call fails: Heroku's own id and message, and the Request-Id for support. */
export const ToolFailure = Schema.Struct({
  error: Schema.String,
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  id: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String)
})
export type ToolFailure = typeof ToolFailure.Type

export const REDACTED = "[REDACTED]"

/** Lists return one page; `nextRange` fetches the next. */
const listParameters = {
  max: Schema.optional(Schema.Int.pipe(Schema.between(1, MAX_PAGE_SIZE))).annotations({
    description: "How many items (default 100, at most 1000)."
  }),
  range: Schema.optional(Schema.String).annotations({ description: "The nextRange of a previous page, to continue." })
}

const listResult = (item: Schema.Schema.Any) =>
  Schema.Struct({ items: Schema.Array(item as Schema.Schema<any, any, never>), nextRange: Schema.optional(Schema.String) })

/** The tool for one operation, with approval set by the grant. */
export const toolFor = (operation: Operation, grant: Grant.Grant): Tool.Any =>
  Tool.make(operation.tool, {
    description: operation.description,
    parameters: operation.list === undefined ? operation.parameters : { ...operation.parameters, ...listParameters },
    success: operation.list === undefined ? operation.result : listResult(operation.result),
    failure: ToolFailure,
    requiresApproval: Grant.needsApproval(grant, operation)
  }) as unknown as Tool.Any

/**
 * MCP-style safety hints for a tool, from its operation's metadata: reads are read-only, deletes are
 * destructive, GET/PUT/DELETE are idempotent, and every tool reaches the outside world (Heroku).
 */
export const annotations = (
  tool: string
): { readonly readOnlyHint: boolean; readonly destructiveHint: boolean; readonly idempotentHint: boolean; readonly openWorldHint: true } | undefined => {
  const operation = byTool.get(tool)
  if (operation === undefined) return undefined
  return {
    readOnlyHint: operation.access === "read",
    destructiveHint: operation.risks.includes("destructive"),
    idempotentHint: operation.method === "GET" || operation.method === "PUT" || operation.method === "DELETE",
    openWorldHint: true
  }
}

/** The operations a grant allows. */
export const allowedOperations = (grant: Grant.Grant): ReadonlyArray<Operation> =>
  operations.filter((operation) => Grant.allows(grant, operation))

/** The tools a grant allows, and only those. An empty grant gives an empty toolkit. */
export const toolkit = (grant: Grant.Grant): Toolkit.Toolkit<Record<string, Tool.Any>> =>
  Toolkit.make(...allowedOperations(grant).map((operation) => toolFor(operation, grant)))

/** Handlers for the grant's tools, over `HerokuClient`, writing to `AuditLog`. */
export const layer = (grant: Grant.Grant): Layer.Layer<Tool.Handler<string>, never, HerokuClient | AuditLog> =>
  toolkit(grant).toLayer(
    Effect.gen(function* () {
      const client = yield* HerokuClient
      const audit = yield* AuditLog
      const handlers: Record<string, Tool.AnyHandlerFn> = {}
      for (const operation of allowedOperations(grant)) handlers[operation.tool] = handlerFor(operation, grant, client, audit)
      return handlers
    })
  )

const failure = (error: string, message: string, extra: Partial<ToolFailure> = {}): ToolFailure => ({ error, message, ...extra })

const fromHerokuError = (error: HerokuError | InvalidRange): ToolFailure =>
  "status" in error
    ? failure(error._tag, error.message, {
        status: error.status,
        id: error.id,
        ...(error.requestId === undefined ? {} : { requestId: error.requestId })
      })
    : failure(error._tag, error.message)

const handlerFor =
  (operation: Operation, grant: Grant.Grant, client: Client, audit: AuditLog["Type"]): Tool.AnyHandlerFn =>
  (params: Record<string, any>, context) => {
    const app = typeof params["app"] === "string" ? (params["app"] as string) : undefined
    const entry = (fields: Pick<Entry, "decision" | "outcome"> & Partial<Entry>): Entry => ({
      at: new Date().toISOString(),
      tool: operation.tool,
      toolCallId: context.toolCallId,
      app,
      by: context.approval?.decidedBy,
      reason: context.approval?.reason,
      error: undefined,
      requestId: undefined,
      ...fields
    })
    // The toolkit only offers granted tools, but the app allow-list depends on the arguments.
    if (!Grant.allows(grant, operation) || !Grant.allowsApp(grant, app)) {
      const message = !Grant.allows(grant, operation)
        ? `This agent's grant does not allow ${operation.tool}.`
        : `This agent's grant does not cover the app "${app}".`
      return audit
        .record(entry({ decision: "denied", by: "grant", reason: message, outcome: "not_run" }))
        .pipe(Effect.zipRight(Effect.fail(failure("GrantDenied", message))))
    }
    const decision = context.approval === undefined ? "allowed" : "approved"
    return call(operation, grant, client, params).pipe(
      Effect.tapBoth({
        onFailure: (error) => audit.record(entry({ decision, outcome: "error", error: error.message, requestId: error.requestId })),
        onSuccess: ({ requestId }) => audit.record(entry({ decision, outcome: "success", requestId }))
      }),
      Effect.map(({ value }) => value)
    )
  }

/** Calls Heroku for one operation and shapes the answer for the model. */
const call = (
  operation: Operation,
  grant: Grant.Grant,
  client: Client,
  params: Record<string, any>
): Effect.Effect<{ readonly value: unknown; readonly requestId: string | undefined }, ToolFailure> => {
  const path = pathOf(operation, params)
  const decode = (body: unknown, schema: Schema.Schema.Any, requestId: string | undefined) =>
    Schema.decodeUnknown(schema as Schema.Schema<unknown, unknown, never>)(body).pipe(
      Effect.mapError((error) =>
        failure("HerokuInvalidResponse", `Heroku answered ${operation.method} ${path} with an unexpected body: ${ParseResult.TreeFormatter.formatErrorSync(error)}`, {
          ...(requestId === undefined ? {} : { requestId })
        })
      )
    )
  if (operation.list !== undefined) {
    const range = (params["range"] as string | undefined) ?? {
      field: operation.list.field,
      max: (params["max"] as number | undefined) ?? 100,
      ...(operation.list.order === undefined ? {} : { order: operation.list.order })
    }
    return client.page(path, { range }).pipe(
      Effect.mapError(fromHerokuError),
      Effect.flatMap((page) =>
        Effect.map(decode(page.items, Schema.Array(operation.result as Schema.Schema<any, any, never>), page.requestId), (items) => ({
          value: { items, ...(page.nextRange === undefined ? {} : { nextRange: page.nextRange }) },
          requestId: page.requestId
        }))
      )
    )
  }
  const body = operation.body?.(params)
  return client.request({ method: operation.method, path, ...(body === undefined ? {} : { body }) }).pipe(
    Effect.mapError(fromHerokuError),
    Effect.flatMap((response) => {
      if (operation.tool === "heroku_logs_read") return readLogs(client, response.body, response.requestId)
      const presented = operation.present === undefined ? response.body : operation.present(response.body, params)
      return Effect.map(decode(presented, operation.result, response.requestId), (value) => ({
        value: operation.group === "config_vars" && !grant.secrets ? redactValues(value) : value,
        requestId: response.requestId
      }))
    })
  )
}

const LOG_TEXT_LIMIT = 20_000

/** A log session answers with a bearer URL; fetch the lines and never hand the URL to the model. */
const readLogs = (client: Client, body: unknown, requestId: string | undefined) => {
  const session = (body ?? {}) as { id?: unknown; logplex_url?: unknown }
  if (typeof session.logplex_url !== "string" || typeof session.id !== "string") {
    return Effect.fail(failure("HerokuInvalidResponse", "the log session has no logplex_url", requestId === undefined ? {} : { requestId }))
  }
  return client.getText(session.logplex_url).pipe(
    Effect.mapError(fromHerokuError),
    Effect.map((text) => ({
      value: {
        logSessionId: session.id as string,
        lines: text.length > LOG_TEXT_LIMIT ? text.slice(text.length - LOG_TEXT_LIMIT) : text,
        truncated: text.length > LOG_TEXT_LIMIT
      },
      requestId
    }))
  )
}

/** Keeps config-var names (useful to the model) and hides every value. */
export const redactValues = (vars: unknown): Record<string, string | null> =>
  Object.fromEntries(
    Object.entries((vars ?? {}) as Record<string, string | null>).map(([key, value]) => [key, value === null ? null : REDACTED])
  )

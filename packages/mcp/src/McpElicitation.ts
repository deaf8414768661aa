/**
 * Our client's side of MCP elicitation (form mode): a server asks for input during a call, a handler you give
 * answers accept (with content), decline or cancel. Before an accepted answer is sent, the requested schema's
 * defaults fill the fields it leaves out (SEP-1034) and the content is checked against the schema: a field
 * that does not fit is a `McpElicitationInvalid` naming it, and nothing is sent as accepted. `fromApprovals`
 * answers approval requests (a server such as `heroku-mcp` asks before a destructive call) with the agent's
 * `Approvals` policy, or with the approval the loop already gave that call.
 *
 * @since 0.1.0
 */
import { Approval, type Tool } from "@agentloop/core"
import type { ElicitRequestFormParams, ElicitResult, PrimitiveSchemaDefinition } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Result } from "effect"
import { McpElicitationInvalid } from "./McpError.js"

export type Value = string | number | boolean | ReadonlyArray<string>

export type RequestedSchema = ElicitRequestFormParams["requestedSchema"]

/** The tool call during which the server asks, when our client can tell (see `Request.call`). */
export interface Call {
  /** The tool's name in the agent's toolkit (prefix included). */
  readonly tool: string
  /** The tool's name on the server. */
  readonly remoteTool: string
  readonly arguments: Readonly<Record<string, unknown>>
  readonly context: Tool.HandlerContext
}

export interface Request {
  /** The connection's name. */
  readonly server: string
  readonly message: string
  readonly requestedSchema: RequestedSchema
  /**
   * The call it belongs to: named by the server (our `Mcp.serve` echoes the call's `_meta` token), or the only
   * call in flight on the connection. Undefined when the server asks outside a call or calls overlap.
   */
  readonly call: Call | undefined
}

export type Answer =
  | { readonly action: "accept"; readonly content: Readonly<Record<string, Value>> }
  | { readonly action: "decline" }
  | { readonly action: "cancel" }

/** Answers one elicitation. It cannot fail: a handler that has no answer declines or cancels. */
export type Handler = (request: Request) => Effect.Effect<Answer>

export const accept = (content: Readonly<Record<string, Value>>): Answer => ({ action: "accept", content })
export const decline: Answer = { action: "decline" }
export const cancel: Answer = { action: "cancel" }

/** The `_meta` key our client puts on a call and our server echoes on the elicitations of that call. */
export const CALL_META = "io.agentloop/call"

/** SEP-1034: each field the content leaves out gets the schema's `default`, when it has one. */
export const withDefaults = (schema: RequestedSchema, content: Readonly<Record<string, Value>>): Record<string, Value> => {
  const filled: Record<string, Value> = { ...content }
  for (const [field, definition] of Object.entries(schema.properties)) {
    const fallback = (definition as { readonly default?: Value }).default
    if (!Object.hasOwn(filled, field) && fallback !== undefined) filled[field] = fallback
  }
  return filled
}

const FORMATS: Record<string, RegExp> = {
  email: /^[^\s@]+@[^\s@]+$/u,
  uri: /^[a-zA-Z][a-zA-Z0-9+.-]*:\S*$/u,
  date: /^\d{4}-\d{2}-\d{2}$/u,
  "date-time": /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/u
}

/** Why one value does not fit its field's definition, or undefined. */
const misfit = (definition: PrimitiveSchemaDefinition, value: unknown): string | undefined => {
  const d = definition as Record<string, any>
  if (d["type"] === "array") {
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) return "expected an array of strings"
    const allowed: ReadonlyArray<string> = d["items"]?.enum ?? (d["items"]?.anyOf ?? []).map((option: { const: string }) => option.const)
    const unknown = value.find((item) => !allowed.includes(item))
    if (unknown !== undefined) return `${JSON.stringify(unknown)} is not one of ${JSON.stringify(allowed)}`
    if (d["minItems"] !== undefined && value.length < d["minItems"]) return `at least ${d["minItems"]} items expected, got ${value.length}`
    if (d["maxItems"] !== undefined && value.length > d["maxItems"]) return `at most ${d["maxItems"]} items expected, got ${value.length}`
    return undefined
  }
  if (d["type"] === "boolean") return typeof value === "boolean" ? undefined : `expected a boolean, got ${typeof value}`
  if (d["type"] === "number" || d["type"] === "integer") {
    if (typeof value !== "number" || !Number.isFinite(value)) return `expected a finite number, got ${typeof value}`
    if (d["type"] === "integer" && !Number.isInteger(value)) return `expected an integer, got ${value}`
    if (d["minimum"] !== undefined && value < d["minimum"]) return `must be at least ${d["minimum"]}, got ${value}`
    if (d["maximum"] !== undefined && value > d["maximum"]) return `must be at most ${d["maximum"]}, got ${value}`
    return undefined
  }
  if (typeof value !== "string") return `expected a string, got ${typeof value}`
  const options: ReadonlyArray<string> | undefined = d["enum"] ?? d["oneOf"]?.map((option: { const: string }) => option.const)
  if (options !== undefined && !options.includes(value)) return `${JSON.stringify(value)} is not one of ${JSON.stringify(options)}`
  if (d["minLength"] !== undefined && value.length < d["minLength"]) return `at least ${d["minLength"]} characters expected, got ${value.length}`
  if (d["maxLength"] !== undefined && value.length > d["maxLength"]) return `at most ${d["maxLength"]} characters expected, got ${value.length}`
  const format = d["format"] === undefined ? undefined : FORMATS[d["format"]]
  if (format !== undefined && !format.test(value)) return `not a valid ${d["format"]}`
  return undefined
}

const PRIMITIVE_TYPES = ["string", "number", "integer", "boolean"]

/** Why a field's definition is not one the specification allows (flat primitives and string enums), or undefined. */
const invalidDefinition = (definition: unknown): string | undefined => {
  if (typeof definition !== "object" || definition === null || Array.isArray(definition)) return "its definition is not an object"
  const d = definition as Record<string, unknown>
  if (d["type"] === "array") {
    const items = d["items"] as Record<string, unknown> | undefined
    const options = items?.["enum"] ?? (Array.isArray(items?.["anyOf"]) ? (items["anyOf"] as Array<{ const?: unknown }>).map((o) => o.const) : undefined)
    return Array.isArray(options) && options.every((o) => typeof o === "string") ? undefined : "an array must list its string options (items.enum or items.anyOf)"
  }
  if (typeof d["type"] !== "string" || !PRIMITIVE_TYPES.includes(d["type"])) {
    return `type ${JSON.stringify(d["type"])} is not allowed (string, number, integer, boolean, or an array of string options; no nesting)`
  }
  const options = d["enum"] ?? (Array.isArray(d["oneOf"]) ? (d["oneOf"] as Array<{ const?: unknown }>).map((o) => o.const) : undefined)
  if (options !== undefined && (!Array.isArray(options) || options.some((o) => typeof o !== "string"))) return "its options must be strings"
  return undefined
}

/**
 * The form request as the specification allows it (checked before any handler sees it): a message, and a flat
 * object schema of primitive fields; otherwise a `McpElicitationInvalid` naming the field (or `message`,
 * `mode`, `requestedSchema`). URL mode is not supported.
 */
export const checkRequest = (server: string, params: unknown): Result.Result<ElicitRequestFormParams, McpElicitationInvalid> => {
  const fail = (field: string, reason: string) => Result.fail(new McpElicitationInvalid({ server, part: "request", field, reason }))
  const p = (typeof params === "object" && params !== null ? params : {}) as Record<string, unknown>
  if (p["mode"] !== undefined && p["mode"] !== "form") return fail("mode", `only form mode is supported, got ${JSON.stringify(p["mode"])}`)
  if (typeof p["message"] !== "string") return fail("message", "must be a string")
  const schema = p["requestedSchema"] as Record<string, unknown> | undefined
  if (typeof schema !== "object" || schema === null || schema["type"] !== "object") return fail("requestedSchema", `must be an object schema ({ type: "object", properties })`)
  const properties = schema["properties"]
  if (typeof properties !== "object" || properties === null || Array.isArray(properties)) return fail("requestedSchema", "must have properties")
  for (const [field, definition] of Object.entries(properties)) {
    const reason = invalidDefinition(definition)
    if (reason !== undefined) return fail(field, reason)
  }
  const required = schema["required"]
  if (required !== undefined && (!Array.isArray(required) || required.some((f) => typeof f !== "string" || !Object.hasOwn(properties, f)))) {
    return fail("requestedSchema", "required must list fields of the schema")
  }
  return Result.succeed(params as ElicitRequestFormParams)
}

/** The content with defaults applied, if it fits the schema: every field known, typed as asked, required ones present. */
export const validate = (
  server: string,
  schema: RequestedSchema,
  content: Readonly<Record<string, unknown>>
): Result.Result<Record<string, Value>, McpElicitationInvalid> => {
  const filled = withDefaults(schema, content as Readonly<Record<string, Value>>)
  for (const [field, value] of Object.entries(filled)) {
    const definition = Object.hasOwn(schema.properties, field) ? schema.properties[field] : undefined
    const reason = definition === undefined ? "not a field of the requested schema" : misfit(definition, value)
    if (reason !== undefined) return Result.fail(new McpElicitationInvalid({ server, part: "answer", field, reason }))
  }
  const missing = (schema.required ?? []).find((field) => !Object.hasOwn(filled, field))
  if (missing !== undefined) {
    return Result.fail(new McpElicitationInvalid({ server, part: "answer", field: missing, reason: "required, and the schema gives no default" }))
  }
  return Result.succeed(filled)
}

/** What is sent for an answer: an accepted one with its content validated (defaults applied). */
export const respond = (request: Pick<Request, "server" | "requestedSchema">, answer: Answer): Result.Result<ElicitResult, McpElicitationInvalid> =>
  answer.action !== "accept"
    ? Result.succeed({ action: answer.action })
    : Result.map(validate(request.server, request.requestedSchema, answer.content), (content): ElicitResult => ({
        action: "accept",
        content: content as NonNullable<ElicitResult["content"]>
      }))

/**
 * The field of an approval request: the one boolean field, when every other field is an optional string (a
 * reason). Other forms are not approvals: an agent has nobody to fill them in.
 */
export const approvalField = (schema: RequestedSchema): { readonly approve: string; readonly reason: string | undefined } | undefined => {
  const fields = Object.entries(schema.properties)
  const booleans = fields.filter(([, definition]) => definition.type === "boolean")
  const strings = fields.filter(([field, definition]) => definition.type === "string" && !("enum" in definition) && !("oneOf" in definition) && !(schema.required ?? []).includes(field))
  if (booleans.length !== 1 || booleans.length + strings.length !== fields.length) return undefined
  return { approve: booleans[0]![0], reason: strings.find(([field]) => field === "reason")?.[0] ?? strings[0]?.[0] }
}

/**
 * Answers approval requests with the agent's approval policy: the approval the loop already gave the call
 * (its `HandlerContext.approval`: a call gated locally is not asked twice), else `Approvals.decide` for the
 * call (approved: accept with the boolean set; denied: decline; suspend: cancel, since an MCP call cannot
 * wait for a later decision). An elicitation that is not an approval request, or that belongs to no call the
 * client can tell, is declined.
 */
export const fromApprovals: Effect.Effect<Handler, never, Approval.Approvals> = Effect.map(Approval.Approvals, (approvals) => (request) => {
  const field = approvalField(request.requestedSchema)
  const call = request.call
  if (field === undefined || call === undefined) return Effect.succeed(decline)
  const approved = (by: string | undefined, reason: string | undefined): Answer =>
    accept({
      [field.approve]: true,
      ...(field.reason === undefined ? {} : { [field.reason]: `approved by ${by ?? "the agent's approval policy"}${reason === undefined ? "" : `: ${reason}`}` })
    })
  if (call.context.approval !== undefined) return Effect.succeed(approved(call.context.approval.decidedBy, call.context.approval.reason))
  return Effect.map(
    approvals.decide({
      runId: call.context.runId,
      step: call.context.repeatedStep ?? 0,
      toolCallId: call.context.toolCallId,
      toolName: call.tool,
      arguments: call.arguments,
      argumentsDigest: Approval.argumentsDigest(call.arguments)
    }),
    (verdict): Answer => (verdict._tag === "Approved" ? approved(verdict.by, verdict.reason) : verdict._tag === "Denied" ? decline : cancel)
  )
})

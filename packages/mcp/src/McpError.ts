/**
 * Typed errors of both directions. The ones a tool call can end with carry a `message` field, so the model
 * sees why a call failed in the tool result (`{ "error": { "_tag": ..., "message": ... } }`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** The server could not be started or connected to (spawn failed, it exited, it did not initialize). */
export class McpStartFailed extends Schema.TaggedError<McpStartFailed>()("McpStartFailed", {
  server: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `MCP server ${this.server} could not be started: ${this.reason}`
  }
}

/** The server was lost (crashed, or the connection dropped) and could not be respawned/reconnected. */
export class McpServerUnavailable extends Schema.TaggedError<McpServerUnavailable>()("McpServerUnavailable", {
  server: Schema.String,
  tool: Schema.String,
  message: Schema.String
}) {}

/** The connection was lost while the call ran: whether the tool's side effects happened is unknown. */
export class McpConnectionLost extends Schema.TaggedError<McpConnectionLost>()("McpConnectionLost", {
  server: Schema.String,
  tool: Schema.String,
  message: Schema.String
}) {}

/** The call took longer than its timeout; the server was sent `notifications/cancelled`. */
export class McpCallTimeout extends Schema.TaggedError<McpCallTimeout>()("McpCallTimeout", {
  server: Schema.String,
  tool: Schema.String,
  timeoutMs: Schema.Number,
  message: Schema.String
}) {}

/** The server answered the call with a JSON-RPC error (unknown tool, invalid params, internal error...). */
export class McpCallFailed extends Schema.TaggedError<McpCallFailed>()("McpCallFailed", {
  server: Schema.String,
  tool: Schema.String,
  code: Schema.Number,
  message: Schema.String
}) {}

/** The tool ran and reported an error (`isError: true`); `message` is its text content. */
export class McpToolError extends Schema.TaggedError<McpToolError>()("McpToolError", {
  server: Schema.String,
  tool: Schema.String,
  message: Schema.String
}) {}

/**
 * The server broke the protocol: a `tools/list` that pages without end, repeats a cursor or names a tool
 * `""`, or a `tools/call` answer that is not a valid result. Only that listing or that call fails; the session
 * stays (other calls in flight are unharmed). `tool` is the call's tool, or `""` for a listing.
 */
export class McpProtocolError extends Schema.TaggedError<McpProtocolError>()("McpProtocolError", {
  server: Schema.String,
  tool: Schema.String,
  message: Schema.String
}) {}

export type CallError = McpServerUnavailable | McpConnectionLost | McpCallTimeout | McpCallFailed | McpToolError | McpProtocolError

/**
 * An elicitation that does not fit: the server's `request` (a schema the specification does not allow; the
 * handler is not asked) or our `answer` (content that does not fit the requested schema after its defaults
 * were applied; not sent as accepted). `field` names the field, `reason` says why.
 */
export class McpElicitationInvalid extends Schema.TaggedError<McpElicitationInvalid>()("McpElicitationInvalid", {
  server: Schema.String,
  part: Schema.Literals(["request", "answer"]),
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return this.part === "request"
      ? `The elicitation request of ${this.server} is not valid: field "${this.field}": ${this.reason}`
      : `The elicitation answer for ${this.server} does not fit the requested schema: field "${this.field}": ${this.reason}`
  }
}

/** Serving could not start: a bad option (naming it) or the port could not be bound. */
export class McpServeError extends Schema.TaggedError<McpServeError>()("McpServeError", {
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Cannot serve MCP (${this.option}): ${this.reason}`
  }
}

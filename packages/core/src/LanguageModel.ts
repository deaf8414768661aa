/**
 * The `LanguageModel` service: one reasoning step. Given the conversation, the offered tools and a tool
 * choice, it streams text deltas, complete tool calls and a finish part with usage.
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema, type Stream } from "effect"
import { type Message, toolCall as makeToolCall, Usage } from "./Message.js"
import type { FinishReason, ResponsePart, StepHandlers, StepResponse } from "./internal/response.js"
import { runStep } from "./internal/runStep.js"
import { StepCollector } from "./internal/stepCollector.js"

/** `none`: offer no tool. `auto`: the model decides. `required`: some tool must be called. `{ function }`: that one. */
export const ToolChoice = Schema.Union([
  Schema.Literals(["none", "auto", "required"]),
  Schema.Struct({ function: Schema.String })
])
export type ToolChoice = typeof ToolChoice.Type

/** What the model is told about a tool: its name, description and JSON Schema for the arguments. */
export interface ToolDefinition {
  readonly name: string
  readonly description: string
  readonly parameters: unknown
}

/** The answer must be JSON matching `schema` (a JSON Schema); see `Output`. */
export interface ResponseFormat {
  readonly name: string
  readonly schema: unknown
}

export interface ModelRequest {
  readonly messages: ReadonlyArray<Message>
  /** The tools offered for this step (the agent's tools narrowed by its tool rules). */
  readonly tools: ReadonlyArray<ToolDefinition>
  /**
   * Every tool of the agent, for providers whose tool set is fixed for longer than one step (a hosted log
   * or conversation): they declare these, and the loop still enforces the rules on every call.
   */
  readonly availableTools: ReadonlyArray<ToolDefinition>
  readonly toolChoice: ToolChoice
  /** False when the loop can only process one tool call per step (ordering rules are active). */
  readonly parallelToolCalls: boolean
  /** Present when the agent has a typed output: providers with a JSON-schema response format send it. */
  readonly responseFormat?: ResponseFormat | undefined
}

export {
  ApprovalRequestPart,
  FinishPart,
  FinishReason,
  MetadataPart,
  RawPart,
  RemoteToolCallPart,
  RemoteToolResultPart,
  ResponsePart,
  type StepHandlers,
  type StepResponse,
  TextDeltaPart,
  ToolCallPart
} from "./internal/response.js"

export const textDelta = (delta: string): ResponsePart => ({ _tag: "TextDelta", delta })
export const toolCall = (call: { id: string; name: string; arguments: string }): ResponsePart => ({
  _tag: "ToolCall",
  call: makeToolCall(call)
})
export const remoteToolCall = (call: { id: string; name: string; arguments: string }): ResponsePart => ({
  _tag: "RemoteToolCall",
  call: makeToolCall({ ...call, remote: true })
})
export const remoteToolResult = (result: { toolCallId: string; toolName: string; content: string; isError: boolean }): ResponsePart => ({
  _tag: "RemoteToolResult",
  ...result
})
export const approvalRequest = (call: { id: string; name: string; arguments: string }): ResponsePart => ({
  _tag: "ApprovalRequest",
  call: makeToolCall({ ...call, remote: true })
})
export const metadata = (value: Record<string, unknown>): ResponsePart => ({ _tag: "Metadata", metadata: value })
export const raw = (source: string, data: unknown): ResponsePart => ({ _tag: "Raw", source, data })
export const finish = (reason: FinishReason, usage: Usage = Usage.empty): ResponsePart => ({
  _tag: "Finish",
  reason,
  usage
})

/**
 * Why a hosted step failed: no response headers in time (`headers-timeout`), the body went silent
 * (`idle-timeout`), the whole step took too long (`step-timeout`), the stream ended before the provider's
 * end marker (`truncated`), the provider reported an error inside the stream (`provider-error`), it
 * answered with an error status (`status`), or the connection failed (`transport`). `context-budget`: the
 * step was never sent, because the `ContextPolicy`'s budget cannot hold the pinned messages (the loop ends the
 * run with `Stopped { reason: "context_budget" }`).
 */
export const ModelErrorReason = Schema.Literals(["headers-timeout", "idle-timeout", "step-timeout", "truncated", "provider-error", "status", "transport", "context-budget"])
export type ModelErrorReason = typeof ModelErrorReason.Type

/** The model could not produce a step. `retryable` tells callers whether trying again may help. */
export class ModelError extends Schema.TaggedError<ModelError>()("ModelError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  /** Which provider failed (e.g. `heroku`, `letta`). */
  provider: Schema.optionalKey(Schema.String),
  /** The HTTP status, when the provider answered with an error. */
  status: Schema.optionalKey(Schema.Number),
  reason: Schema.optionalKey(ModelErrorReason),
  /** The parts the step produced before it failed (a cut-off stream), when any were (kept as they are: not re-validated). */
  received: Schema.optionalKey(Schema.declare((u): u is ReadonlyArray<ResponsePart> => Array.isArray(u))),
  cause: Schema.optionalKey(Schema.Unknown)
}) {}

/** The fields a `ModelError` is made of (`new ModelError(fields)`). */
export type ModelErrorFields = ConstructorParameters<typeof ModelError>[0]

/**
 * A `ModelError` like `error` with `changes` applied (e.g. a scrubbed `message`, the `received` parts). Built
 * field by field: spreading an Effect 4 error instance loses its `message` and `cause` (they are not
 * enumerable own properties).
 */
export const modelErrorWith = (error: ModelError, changes: Partial<ModelErrorFields>): ModelError => {
  const fields: { -readonly [K in keyof ModelErrorFields]: ModelErrorFields[K] } = { message: error.message, retryable: error.retryable }
  if (error.provider !== undefined) fields.provider = error.provider
  if (error.status !== undefined) fields.status = error.status
  if (error.reason !== undefined) fields.reason = error.reason
  if (error.received !== undefined) fields.received = error.received
  if (error.cause !== undefined) fields.cause = error.cause
  return new ModelError(Object.assign(fields, changes))
}

export interface Service {
  /** The step as a `Stream` of parts: the one interface every model has (every shipped adapter offers only this). */
  readonly streamStep: (request: ModelRequest) => Stream.Stream<ResponsePart, ModelError>
  /**
   * Optional fast path: the step streamed by pushing its parts to `emit` as they arrive (a batch at a time),
   * the Effect ending when the step does. For models whose source is not an Effect `Stream` (in-process
   * models, fakes, an SDK's callbacks or async iterator; a whole non-streaming answer is one `emit`): the
   * loop prefers it to `streamStep`, because running a `Stream` costs about twice as much per step as calling
   * a function (W1M in bench/, see docs/core.md). It must push the same parts `streamStep` would.
   */
  readonly pushStep?: (request: ModelRequest, emit: (parts: ReadonlyArray<ResponsePart>) => void) => Effect.Effect<void, ModelError>
  /**
   * Optional capability: how this model best returns a typed final output, used by agents made with
   * `outputMode: "auto"` (see `Output.Mode`). `"response_format"`: it sends `ModelRequest.responseFormat`
   * (chat completions); `"text"`: it cannot run client-side tools, so the schema goes in the instructions.
   * Absent: `"tool"` (a final-answer tool).
   */
  readonly outputMode?: "response_format" | "tool" | "text"
}

export class LanguageModel extends Context.Service<LanguageModel, Service>()("@agentloop/core/LanguageModel") {}

/**
 * Collects a whole step's parts (a non-streaming answer) into a `StepResponse`. Pure: no Effect.
 */
export const collectParts = (parts: ReadonlyArray<ResponsePart>, handlers: StepHandlers = {}): StepResponse => {
  const collector = new StepCollector(handlers)
  for (const part of parts) collector.add(part)
  return collector.result()
}

/**
 * Runs one step and collects it, reporting parts to `handlers` as they arrive. A stream that ends without
 * a finish part is treated as `stop` (or `tool_calls` if calls arrived).
 */
export const collectStep = (
  model: Service,
  request: ModelRequest,
  handlers: StepHandlers = {}
): Effect.Effect<StepResponse, ModelError> =>
  // Lazy: a durable runner may replay the step instead of running it, and models may count calls.
  Effect.suspend(() => {
    const collector = new StepCollector(handlers)
    return Effect.map(runStep(model, request, collector, handlers.ready), () => collector.result())
  })

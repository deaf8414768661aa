/**
 * A tool: a name, a description written for the model, Schema parameters, a Schema result and failure,
 * and the execution policy the loop needs (approval, parallelism, timeout, result size).
 *
 * Handlers are not part of the tool; a `Toolkit` gets them from a Layer, so tests swap them freely.
 *
 * @since 0.1.0
 */
import { Duration, type Effect, JSONSchema, Schema } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import type { ApprovalDecision, PendingApproval } from "./Approval.js"
import type { ToolDefinition } from "./LanguageModel.js"

export const TypeId: unique symbol = Symbol.for("@agentloop/core/Tool")
export type TypeId = typeof TypeId

type AnySchema = Schema.Schema.All

export interface Tool<
  Name extends string,
  Fields extends Schema.Struct.Fields,
  Success extends AnySchema,
  Failure extends AnySchema
> {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly description: string
  readonly parameters: Schema.Struct<Fields>
  readonly success: Success
  readonly failure: Failure
  /** Static flag, or a predicate over the decoded arguments (e.g. only large refunds need a human). */
  readonly requiresApproval: boolean | ((params: Schema.Struct.Type<Fields>) => boolean)
  /** Whether calls may run concurrently with other calls of the same step. */
  readonly parallel: boolean
  readonly timeout: Duration.Duration | undefined
  /** Results longer than this (in characters, as the model sees them) are truncated. */
  readonly returnCharLimit: number | undefined
  /** The definition offered to the model, with the JSON Schema generated from `parameters`. */
  readonly definition: ToolDefinition
}

// `any` fields: Schema.Struct is invariant in its fields (through `annotations`), so no narrower type fits all.
export interface Any extends Tool<string, any, AnySchema, AnySchema> {}

export type Params<T> = T extends Tool<any, infer F, any, any> ? Schema.Struct.Type<F> : never
export type SuccessOf<T> = T extends Tool<any, any, infer S, any> ? Schema.Schema.Type<S> : never
export type FailureOf<T> = T extends Tool<any, any, any, infer F> ? Schema.Schema.Type<F> : never
export type NameOf<T> = T extends Tool<infer N, any, any, any> ? N : never

export interface Options<
  Fields extends Schema.Struct.Fields,
  Success extends AnySchema,
  Failure extends AnySchema
> {
  readonly description: string
  readonly parameters?: Fields
  readonly success?: Success
  readonly failure?: Failure
  readonly requiresApproval?: boolean | ((params: Schema.Struct.Type<Fields>) => boolean)
  readonly parallel?: boolean
  readonly timeout?: Duration.DurationInput
  readonly returnCharLimit?: number
}

/** Tool names must be usable by every provider (OpenAI's rule is the strictest common one). */
export const validName = /^[a-zA-Z0-9_-]{1,64}$/

/**
 * Makes a tool. The name must match `^[a-zA-Z0-9_-]{1,64}$`; anything else is a programming error and throws
 * at definition time, long before a model sees it.
 */
export const make = <
  const Name extends string,
  Fields extends Schema.Struct.Fields = {},
  Success extends AnySchema = typeof Schema.Void,
  Failure extends AnySchema = typeof Schema.Never
>(
  name: Name,
  options: Options<Fields, Success, Failure>
): Tool<Name, Fields, Success, Failure> => {
  if (!validName.test(name)) {
    throw new TypeError(`Tool name "${name}" must match ${validName.source}`)
  }
  if (options.returnCharLimit !== undefined && !(options.returnCharLimit > 0)) {
    throw new TypeError(`Tool "${name}": returnCharLimit must be a positive number`)
  }
  const parameters = Schema.Struct((options.parameters ?? {}) as Fields)
  return {
    [TypeId]: TypeId,
    name,
    description: options.description,
    parameters,
    success: (options.success ?? Schema.Void) as Success,
    failure: (options.failure ?? Schema.Never) as Failure,
    requiresApproval: options.requiresApproval ?? false,
    parallel: options.parallel ?? true,
    timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout),
    returnCharLimit: options.returnCharLimit,
    definition: { name, description: options.description, parameters: jsonSchemaOf(parameters) }
  }
}

/**
 * JSON Schema for a parameters struct with `$ref`s inlined, which every provider accepts. A recursive
 * schema keeps its `$defs` for the recursive part only.
 */
export const jsonSchemaOf = (schema: Schema.Schema.Any): unknown => {
  const { $schema: _, $defs: defs = {}, ...root } = JSONSchema.make(schema, { target: "jsonSchema7" }) as Record<string, any>
  const kept: Record<string, unknown> = {}
  const inline = (node: unknown, expanding: ReadonlySet<string>): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, expanding))
    if (typeof node !== "object" || node === null) return node
    const ref = (node as { $ref?: unknown }).$ref
    if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
      const name = ref.slice("#/$defs/".length)
      if (expanding.has(name)) {
        kept[name] = defs[name]
        return node
      }
      return inline(defs[name], new Set([...expanding, name]))
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v, expanding)]))
  }
  const result = inline(root, new Set()) as Record<string, unknown>
  return Object.keys(kept).length === 0 ? result : { ...result, $defs: inline(kept, new Set(Object.keys(kept))) }
}

/** What a handler is told about the call it serves. */
export interface HandlerContext {
  readonly runId: string
  readonly toolCallId: string
  /**
   * Stable across retries and resumes of the same call, and different for every call of a run: use it to make
   * side effects idempotent. `<runId>:<toolCallId>`; when an earlier step of the run already had a call with
   * this id (providers that number calls per response send `call_0` on every step), `<runId>:<step>:<toolCallId>`.
   * Read from the run's stored messages (and the ids a handoff filter dropped from them), so a call gets the
   * same key after a suspend, a restart, a replay or a handoff. Worked out when first read (the loop passes a
   * class instance whose `idempotencyKey` and `repeatedStep` are getters): hand the context itself on, since a
   * copy made with `{ ...context }` does not carry them.
   */
  readonly idempotencyKey: string
  /**
   * Set when an earlier step of the run already had a call with this id: this call's step, which qualifies the
   * keys derived from the call (`idempotencyKey`, a sub-agent's run id: `SubAgent.childRunId`).
   */
  readonly repeatedStep?: number | undefined
  /** Present when the call needed approval and got it: who approved it, and why. */
  readonly approval?: { readonly decidedBy?: string; readonly reason?: string }
  /**
   * For sub-agent tools (see `SubAgent`): instead of a result, the calling run suspends with these pending
   * approvals of the sub-agent's run. The call runs again when they are decided.
   */
  readonly suspend?: (toolCallId: string, pending: ReadonlyArray<PendingApproval>) => void
  /** For sub-agent tools: the decisions on the approvals this call suspended with, in the sub-agent's terms. */
  readonly decisions?: ReadonlyArray<ApprovalDecision> | undefined
  /**
   * For sub-agent tools: present only when someone consumes the calling run's events (a stream, `onEvent`).
   * `emit` takes the sub-agent's events (wrapped as `SubAgentEvent`s, see `AgentEvent.forwarded`); `ready`
   * is the consumer's backpressure; `step` is the calling run's step.
   */
  readonly events?: EventForwarding | undefined
}

/** Where a sub-agent tool forwards its run's events (see `HandlerContext.events`). */
export interface EventForwarding {
  readonly step: number
  readonly emit: (event: AgentEvent) => void
  readonly ready: (() => Effect.Effect<void> | undefined) | undefined
}

export type HandlerFn<T extends Any> = (
  params: Params<T>,
  context: HandlerContext
) => Effect.Effect<SuccessOf<T>, FailureOf<T>>

/** The service identifier for the handler of the tool called `Name`. */
export interface Handler<Name extends string> {
  readonly _tag: "@agentloop/core/Tool/Handler"
  readonly name: Name
}

export type AnyHandlerFn = (params: any, context: HandlerContext) => Effect.Effect<unknown, unknown>

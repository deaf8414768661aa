/**
 * A tool: a name, a description written for the model, Schema parameters, a Schema result and failure,
 * and the execution policy the loop needs (approval, parallelism, timeout, result size).
 *
 * Handlers are not part of the tool; a `Toolkit` gets them from a Layer, so tests swap them freely.
 *
 * @since 0.1.0
 */
import { Duration, type Effect, Schema, SchemaRepresentation } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import type { ApprovalDecision, PendingApproval } from "./Approval.js"
import type { ToolDefinition } from "./LanguageModel.js"

export const TypeId: unique symbol = Symbol.for("@agentloop/core/Tool")
export type TypeId = typeof TypeId

type AnySchema = Schema.Top

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
  /** What the tool does to the world (see `Hints`), when it was made with hints. */
  readonly hints?: Hints | undefined
}

/**
 * What a tool does to the world, in the vocabulary of MCP's tool annotations (`readOnlyHint`,
 * `destructiveHint`, `idempotentHint`, `openWorldHint`) and effect/ai's tool annotations (`Tool.Readonly`,
 * `Tool.Destructive`, `Tool.Idempotent`, `Tool.OpenWorld`). They set the defaults of the execution policy
 * (see `hintDefaults`) and travel with the tool to MCP and effect/ai. Hints, not guarantees: the rules and
 * `Approvals` of the agent are what the loop enforces.
 */
export interface Hints {
  /** The tool only reads: it changes nothing (MCP `readOnlyHint`, effect/ai `Tool.Readonly`). */
  readonly readOnly?: boolean
  /** The tool may destroy or overwrite something (MCP `destructiveHint`, effect/ai `Tool.Destructive`). */
  readonly destructive?: boolean
  /** Calling it again with the same arguments changes nothing more (MCP `idempotentHint`, effect/ai `Tool.Idempotent`). */
  readonly idempotent?: boolean
  /** It reaches outside systems, beyond a closed domain (MCP `openWorldHint`, effect/ai `Tool.OpenWorld`). */
  readonly openWorld?: boolean
}

/**
 * The policy a tool's hints imply when `requiresApproval` / `parallel` are not given (the rule MCP toolkits
 * follow for MCP annotations):
 *
 * | hints | `requiresApproval` | `parallel` |
 * |---|---|---|
 * | none | `false` | `true` |
 * | `destructive: true` | `true` | `readOnly === true` |
 * | any other hints | `false` | `readOnly === true` |
 *
 * A tool that declares hints but not `readOnly: true` may change something, so it runs alone.
 */
export const hintDefaults = (hints: Hints | undefined): { readonly requiresApproval: boolean; readonly parallel: boolean } =>
  hints === undefined
    ? { requiresApproval: false, parallel: true }
    : { requiresApproval: hints.destructive === true, parallel: hints.readOnly === true }

// `any` fields: Schema.Struct is invariant in its fields (through `annotate`), so no narrower type fits all.
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
  readonly timeout?: Duration.Input
  readonly returnCharLimit?: number
  /**
   * What the tool does to the world. Sets the defaults of `requiresApproval` (a destructive tool needs
   * approval) and `parallel` (only a read-only tool runs beside others): see `hintDefaults`.
   */
  readonly hints?: Hints
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
  const defaults = hintDefaults(options.hints)
  return {
    [TypeId]: TypeId,
    name,
    description: options.description,
    parameters,
    success: (options.success ?? Schema.Void) as Success,
    failure: (options.failure ?? Schema.Never) as Failure,
    requiresApproval: options.requiresApproval ?? defaults.requiresApproval,
    parallel: options.parallel ?? defaults.parallel,
    timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
    returnCharLimit: options.returnCharLimit,
    definition: { name, description: options.description, parameters: jsonSchemaOf(parameters) },
    ...(options.hints === undefined ? {} : { hints: options.hints })
  }
}

/**
 * JSON Schema for a parameters struct with `$ref`s inlined, which every provider accepts. A recursive
 * schema keeps its `$defs` for the recursive part only.
 *
 * It describes what the schema decodes (its encoded side), in the shape providers expect of tool parameters:
 * structs are closed (`additionalProperties: false`), an optional field is left out of `required` (not made
 * nullable), a number is `{ type: "number" }` (Effect's JSON codec would also accept "NaN"/"Infinity" strings,
 * which the schema itself does not), an integer carries no safe-integer bounds, and no parameters at all is
 * `{ type: "object", properties: {}, additionalProperties: false }`.
 */
export const jsonSchemaOf = (schema: Schema.Top): unknown => {
  const document = SchemaRepresentation.toRepresentation(schema.ast)
  const optionalAsAbsent = dropOptionalUndefined()
  const representation = optionalAsAbsent(document.representation)
  const references: Record<string, SchemaRepresentation.Representation> = {}
  for (const [key, value] of Object.entries(document.references)) references[key] = optionalAsAbsent(value)
  const compiled = SchemaRepresentation.toJsonSchemaDocument({ representation, references }, { onExcessProperty: "error" })
  const root = normalize(compiled.schema) as Record<string, unknown>
  const defs = normalize(compiled.definitions) as Record<string, unknown>
  const kept: Record<string, unknown> = {}
  const inline = (node: unknown, expanding: ReadonlySet<string>): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, expanding))
    if (typeof node !== "object" || node === null) return node
    const ref = (node as { $ref?: unknown }).$ref
    if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
      const name = definitionName(ref.slice("#/$defs/".length))
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

/** A `$ref` fragment token back to its definition key (JSON Pointer escapes, then URI escapes). */
const definitionName = (token: string): string => decodeURIComponent(token).replaceAll("~1", "/").replaceAll("~0", "~")

/**
 * `Schema.optional(X)` is `X | undefined` behind an optional key; JSON has no `undefined` (Effect's JSON Schema
 * would render it as `null`), so an optional property is described by `X` alone, as the decoder accepts it.
 */
const dropOptionalUndefined = () => {
  const memo = new Map<SchemaRepresentation.Representation, SchemaRepresentation.Representation>()
  const withoutUndefined = (r: SchemaRepresentation.Representation): SchemaRepresentation.Representation => {
    if (r._tag !== "Union" || !r.types.some((t) => t._tag === "Undefined")) return r
    const types = r.types.filter((t) => t._tag !== "Undefined")
    return types.length === 1 && r.checks.length === 0 && r.annotations === undefined ? types[0]! : { ...r, types }
  }
  const go = (r: SchemaRepresentation.Representation): SchemaRepresentation.Representation => {
    const known = memo.get(r)
    if (known !== undefined) return known
    let out: SchemaRepresentation.Representation
    switch (r._tag) {
      case "Objects":
        out = {
          ...r,
          propertySignatures: r.propertySignatures.map((p) => ({ ...p, type: p.isOptional ? withoutUndefined(go(p.type)) : go(p.type) })),
          indexSignatures: r.indexSignatures.map((i) => ({ ...i, type: go(i.type) }))
        }
        break
      case "Arrays":
        out = { ...r, elements: r.elements.map((e) => ({ ...e, type: go(e.type) })), rest: r.rest.map(go) }
        break
      case "Union":
        out = { ...r, types: r.types.map(go) }
        break
      case "Suspend":
        out = { ...r, thunk: go(r.thunk) }
        break
      case "Declaration":
        out = { ...r, typeParameters: r.typeParameters.map(go) }
        break
      default:
        out = r
    }
    memo.set(r, out)
    return out
  }
  return go
}

const isNumberType = (node: unknown): boolean => {
  const type = (node as { type?: unknown } | null)?.type
  return type === "number" || type === "integer"
}

/** The `"NaN"`/`"Infinity"`/`"-Infinity"` strings Effect's JSON codec accepts beside a number. */
const isNonFiniteStrings = (node: unknown): boolean => {
  const { type, enum: values, ...rest } = node as { type?: unknown; enum?: unknown }
  return (
    type === "string" && Array.isArray(values) && values.length === 3 && Object.keys(rest).length === 0 &&
    values.includes("NaN") && values.includes("Infinity") && values.includes("-Infinity")
  )
}

const isNotNull = (node: unknown): boolean =>
  typeof node === "object" && node !== null && Object.keys(node).length === 1 && (node as { type?: unknown }).type === "null"

/**
 * Number alternatives without the non-finite strings, integers without the safe-integer bounds, and an empty
 * struct as an empty object.
 */
const normalize = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(normalize)
  if (typeof node !== "object" || node === null) return node
  let out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(node)) out[key] = normalize(value)
  if (Array.isArray(out.anyOf) && out.anyOf.some(isNumberType) && out.anyOf.some(isNonFiniteStrings)) {
    const members = out.anyOf.filter((member) => !isNonFiniteStrings(member))
    const { anyOf: _, ...rest } = out
    const single = members.length === 1 ? (members[0] as Record<string, unknown>) : undefined
    out = single !== undefined && Object.keys(single).every((key) => !(key in rest)) ? { ...single, ...rest } : { ...rest, anyOf: members }
  }
  // An empty struct (Effect renders it as "anything but null"): an object without properties.
  if (out.type === undefined && isNotNull(out.not)) {
    const { not: _, ...rest } = out
    out = { type: "object", properties: {}, additionalProperties: false, ...rest }
  }
  if (out.type === "integer") {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum
  }
  return out
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

/**
 * A toolkit groups tools and gets their handlers from a Layer. Executing a call never fails: invalid
 * arguments, unknown tools, handler failures, defects and timeouts all become a tool result the model sees.
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, Layer, Option, Result, Schema } from "effect"
import * as Tool from "./Tool.js"
import { redactEncoded, schemaHoldsRedacted } from "./internal/redacted.js"
import * as Tracing from "./Tracing.js"

export interface Toolkit<Tools extends Record<string, Tool.Any>> {
  readonly tools: Tools
  readonly names: ReadonlyArray<string>
  /**
   * The tag a tool's handler is provided under. It belongs to this toolkit (a toolkit made by `merge` keeps
   * its parts' tags): two toolkits with a tool of the same name never share a handler in one context.
   */
  readonly handlerTag: (name: keyof Tools & string) => HandlerTag
  /** Provides the handlers, given directly or built by an Effect (which may use other services). */
  readonly toLayer: <E = never, R = never>(
    handlers: Handlers<Tools> | Effect.Effect<Handlers<Tools>, E, R>
  ) => Layer.Layer<HandlerIds<Tools>, E, R>
}

export interface Any extends Toolkit<Record<string, Tool.Any>> {}

export type HandlerTag = Context.Service<Tool.Handler<string>, Tool.AnyHandlerFn>

export type Handlers<Tools extends Record<string, Tool.Any>> = {
  readonly [K in keyof Tools]: Tool.HandlerFn<Tools[K]>
}

/** The services a toolkit's handlers are provided under: one `Tool.Handler<name>` per tool. */
export type HandlerIds<Tools extends Record<string, Tool.Any>> = {
  [K in keyof Tools]: Tool.Handler<K & string>
}[keyof Tools]

export type ToolsOf<K> = K extends Toolkit<infer T> ? T : never

type ByName<T extends ReadonlyArray<Tool.Any>> = { [Item in T[number] as Item["name"]]: Item }

/** Toolkits made in this process so far: each one's handler tags carry its number, so they are its own. */
let toolkitsMade = 0

export const make = <const T extends ReadonlyArray<Tool.Any>>(...tools: T): Toolkit<ByName<T>> => {
  const id = ++toolkitsMade
  return fromParts(
    tools.map((tool) => ({ tool, tag: Context.Service<Tool.Handler<string>, Tool.AnyHandlerFn>(`@agentloop/core/Tool/Handler/${tool.name}#${id}`) }))
  ) as unknown as Toolkit<ByName<T>>
}

/** Both toolkits' tools; each keeps its handler tag, so the parts' layers serve the merged toolkit. */
export const merge = <A extends Record<string, Tool.Any>, B extends Record<string, Tool.Any>>(
  a: Toolkit<A>,
  b: Toolkit<B>
): Toolkit<A & B> =>
  fromParts([...partsOf(a), ...partsOf(b)]) as unknown as Toolkit<A & B>

interface Part {
  readonly tool: Tool.Any
  readonly tag: HandlerTag
}

const partsOf = <Tools extends Record<string, Tool.Any>>(toolkit: Toolkit<Tools>): ReadonlyArray<Part> =>
  Object.values(toolkit.tools).map((tool) => ({ tool, tag: toolkit.handlerTag(tool.name as keyof Tools & string) }))

const fromParts = (parts: ReadonlyArray<Part>): Any => {
  // No prototype: tools named `toString`, `constructor` or `__proto__` are plain entries, never inherited ones.
  const tools: Record<string, Tool.Any> = Object.create(null)
  const tags = new Map<string, HandlerTag>()
  for (const { tag, tool } of parts) {
    if (tags.has(tool.name)) throw new TypeError(`Toolkit: tool "${tool.name}" is listed twice`)
    tools[tool.name] = tool
    tags.set(tool.name, tag)
  }
  const handlerTag = (name: string): HandlerTag => {
    const tag = tags.get(name)
    if (tag === undefined) throw new TypeError(`Toolkit: no tool "${name}"`)
    return tag
  }
  return {
    tools,
    names: Object.keys(tools),
    handlerTag,
    toLayer: <E, R>(handlers: Handlers<Record<string, Tool.Any>> | Effect.Effect<Handlers<Record<string, Tool.Any>>, E, R>) =>
      Layer.effectContext(
        Effect.map(Effect.isEffect(handlers) ? handlers : Effect.succeed(handlers), (impl) => {
          let context = Context.empty() as Context.Context<any>
          for (const [name, tag] of tags) {
            const fn = (impl as Record<string, Tool.AnyHandlerFn | undefined>)[name]
            if (fn === undefined) throw new TypeError(`Toolkit.toLayer: no handler for tool "${name}"`)
            context = Context.add(context, tag, fn)
          }
          return context as Context.Context<HandlerIds<Record<string, Tool.Any>>>
        })
      )
  }
}

/** A toolkit with its handlers looked up, ready to execute calls. */
export interface Resolved {
  readonly tools: ReadonlyMap<string, Tool.Any>
  readonly handlers: ReadonlyMap<string, Tool.AnyHandlerFn>
  /** What the model is told about every tool, in toolkit order. */
  readonly definitions: ReadonlyArray<import("./LanguageModel.js").ToolDefinition>
}

/**
 * The context holds no handler for some of a toolkit's tools: a layer made from another toolkit (even one
 * with tools of the same names) does not serve this one.
 */
export class MissingHandlers extends Schema.TaggedError<MissingHandlers>()("MissingHandlers", {
  tools: Schema.Array(Schema.String),
  /** The agent whose toolkit lacks them, when an agent is being bound (with handoffs: possibly a target). */
  agent: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `No handler provided for tool(s) ${this.tools.join(", ")} of ${this.agent === undefined ? "this toolkit" : `agent ${this.agent}'s toolkit`}: provide its own toolkit.toLayer(...) ` +
      `(a layer of another toolkit with same-named tools does not serve it)`
  }
}

export const resolve = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit<Tools>
): Effect.Effect<Resolved, MissingHandlers, HandlerIds<Tools>> =>
  Effect.flatMap(Effect.context<HandlerIds<Tools>>(), (context) => resolveIn(partsOf(toolkit), context as Context.Context<any>))

const resolveIn = (parts: ReadonlyArray<Part>, context: Context.Context<any>): Effect.Effect<Resolved, MissingHandlers> => {
  const tools = new Map<string, Tool.Any>()
  const handlers = new Map<string, Tool.AnyHandlerFn>()
  const missing: Array<string> = []
  // With tracing, each handler runs under its call's execute_tool span (looked up once: no cost without it).
  const traced = Option.isSome(Context.getOption(context, Tracing.Tracing))
  for (const { tag, tool } of parts) {
    const name = tool.name
    tools.set(name, tool)
    const handler = Context.getOption(context, tag)
    if (Option.isSome(handler)) handlers.set(name, traced ? Tracing.nestHandler(handler.value) : handler.value)
    else missing.push(name)
  }
  return missing.length > 0
    ? Effect.fail(new MissingHandlers({ tools: missing }))
    : Effect.succeed({ tools, handlers, definitions: [...tools.values()].map((tool) => tool.definition) })
}

/** Why a call produced an error result. */
export type ErrorKind =
  | "UnknownTool"
  | "InvalidArguments"
  | "ToolFailed"
  | "Timeout"
  | "Defect"
  | "InvalidResult"
  | "RuleViolation"
  | "Denied"

/** The outcome of executing one tool call. `output` is the untruncated text that conditional rules match on. */
export interface Execution {
  readonly content: string
  readonly output: string
  readonly isError: boolean
  readonly errorKind: ErrorKind | undefined
  /** The encoded result (or failure) value, for events and logs. */
  readonly value: unknown
}

/**
 * Whether the call reached its handler: it succeeded, or the handler failed, timed out, died or returned a
 * bad result. Unknown tools, bad arguments, rule violations and denials never ran anything.
 */
export const handlerRan = (execution: Execution): boolean => {
  switch (execution.errorKind) {
    case undefined:
    case "ToolFailed":
    case "Timeout":
    case "Defect":
    case "InvalidResult":
      return true
    default:
      return false
  }
}

export const errorResult = (kind: ErrorKind, message: string): Execution => ({
  content: message,
  output: message,
  isError: true,
  errorKind: kind,
  value: { error: kind, message }
})

/** Parses a model's argument text. An empty string means "no arguments" (some providers send that). */
export const parseArguments = (toolName: string, raw: string): Result.Result<Record<string, unknown>, Execution> => {
  if (raw.trim() === "") return Result.succeed({})
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (error) {
    return Result.fail(
      errorResult(
        "InvalidArguments",
        `Invalid arguments for tool "${toolName}": not valid JSON (${(error as Error).message}). ` +
          `Call it again with a JSON object matching its parameters.`
      )
    )
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return Result.fail(
      errorResult("InvalidArguments", `Invalid arguments for tool "${toolName}": expected a JSON object.`)
    )
  }
  return Result.succeed(parsed as Record<string, unknown>)
}

export const unknownTool = (name: string, available: ReadonlyArray<string>): Execution =>
  errorResult(
    "UnknownTool",
    `Unknown tool "${name}". Available tools: ${available.length === 0 ? "(none)" : available.join(", ")}.`
  )

const stringify = (value: unknown): string =>
  typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)

/**
 * A value that cannot be written as JSON: nested too deeply (any tool's result can be, a remote one
 * especially), circular, or holding a BigInt. The call gets an error result instead of crashing the run.
 */
const unwritable = (tool: Tool.Any, error: unknown): Execution =>
  errorResult(
    "InvalidResult",
    `Tool "${tool.name}" returned a result that cannot be written as JSON: ${
      error instanceof RangeError && error.message.includes("call stack")
        ? "it is nested too deeply"
        : error instanceof Error ? error.message : String(error)
    }`
  )

const truncate = (text: string, limit: number | undefined): string =>
  limit === undefined || text.length <= limit
    ? text
    : `${text.slice(0, limit)}\n[truncated: ${text.length - limit} more characters]`

/**
 * Executes a call whose arguments have been parsed (and merged with any rule prefill).
 * Every failure mode becomes an error `Execution`; the returned Effect never fails.
 */
export const execute = (
  toolkit: Resolved,
  call: { readonly name: string; readonly args: Record<string, unknown> },
  context: Tool.HandlerContext
): Effect.Effect<Execution> => executeThen(toolkit, call, context, Effect.succeed)

/**
 * `execute`, continued with `then`: the result is handed on in the same runtime step that produced it,
 * which saves an Effect per call on the loop's hot path.
 */
export const executeThen = <A, E, R>(
  toolkit: Resolved,
  call: { readonly name: string; readonly args: Record<string, unknown> },
  context: Tool.HandlerContext,
  then: (execution: Execution) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const tool = toolkit.tools.get(call.name)
  const handler = toolkit.handlers.get(call.name)
  if (tool === undefined || handler === undefined) return then(unknownTool(call.name, [...toolkit.tools.keys()]))
  const decoded = decodeArguments(tool, call.args)
  if (Result.isFailure(decoded)) return then(decoded.failure)
  let run: Effect.Effect<unknown, unknown>
  try {
    run = handler(decoded.success, context)
  } catch (error) {
    // A handler that throws instead of returning an Effect is a defect of that call, not of the run.
    return then(failureResult(tool, Cause.die(error)))
  }
  if (tool.timeout !== undefined) {
    run = Effect.timeoutOrElse(run, { duration: tool.timeout, orElse: () => Effect.fail(new ToolTimeout()) })
  }
  return Effect.matchCauseEffect(run, {
    onSuccess: (value) => then(successResult(tool, value)),
    onFailure: (cause) => then(failureResult(tool, cause))
  })
}

/** Encodes a handler's value with the tool's success schema (synchronously). */
const successResult = (tool: Tool.Any, value: unknown): Execution => {
  const encoded = codecsOf(tool).encodeSuccess(value)
  if (Result.isFailure(encoded)) {
    return errorResult(
      "InvalidResult",
      `Tool "${tool.name}" returned a result that does not match its schema: ${encoded.failure.message}`
    )
  }
  let output: string
  try {
    output = stringify(encoded.success)
  } catch (error) {
    return unwritable(tool, error)
  }
  return { content: truncate(output, tool.returnCharLimit), output, isError: false, errorKind: undefined, value: encoded.success }
}

class ToolTimeout {
  readonly _tag = "ToolTimeout"
}

/** Tool schemas are required to be context-free by `Tool.make`'s callers; this states it to the compiler. */
const noContext = (schema: Schema.Top) => schema as unknown as Schema.Codec<unknown, unknown>

interface Codecs {
  readonly decodeParams: (args: unknown) => Result.Result<unknown, Schema.SchemaError>
  readonly encodeSuccess: (value: unknown) => Result.Result<unknown, Schema.SchemaError>
  readonly encodeFailure: (value: unknown) => Result.Result<unknown, Schema.SchemaError>
}

/** An encoder that puts `<redacted>` back where the schema unwrapped a `Redacted` (only for schemas that hold one). */
const redactingEncoder = (schema: Schema.Top) => {
  const encode = Schema.encodeUnknownResult(noContext(schema))
  return schemaHoldsRedacted(schema.ast) ? (value: unknown) => Result.map(encode(value), (encoded) => redactEncoded(value, encoded)) : encode
}

/**
 * Decodes a call's arguments (unknown keys dropped, Schema's default), reporting every issue when they are
 * invalid. Valid arguments (every call but a model's mistake) take Schema's fast path with the default
 * options: asking for `errors: "all"` (or naming `onExcessProperty`) sends every struct to its generator-based
 * parser, about 0.7 KB and an Effect per call; only a failure is decoded again for all its issues.
 */
const argumentsDecoder = (schema: Schema.Top) => {
  const first = Schema.decodeUnknownResult(noContext(schema))
  const all = Schema.decodeUnknownResult(noContext(schema), { errors: "all" })
  return (args: unknown): Result.Result<unknown, Schema.SchemaError> => {
    const decoded = first(args)
    return Result.isSuccess(decoded) ? decoded : all(args)
  }
}

/** Each tool's codecs, built once: making them is not free, and every call needs them. */
const codecsCache = new WeakMap<Tool.Any, Codecs>()
const codecsOf = (tool: Tool.Any): Codecs => {
  let codecs = codecsCache.get(tool)
  if (codecs === undefined) {
    codecs = {
      decodeParams: argumentsDecoder(tool.parameters),
      encodeSuccess: redactingEncoder(tool.success),
      encodeFailure: redactingEncoder(tool.failure)
    }
    codecsCache.set(tool, codecs)
  }
  return codecs
}


/** Decodes arguments with the tool's parameter schema; a mismatch is an error result naming each field. */
export const decodeArguments = (tool: Tool.Any, args: Record<string, unknown>): Result.Result<unknown, Execution> =>
  Result.mapError(
    codecsOf(tool).decodeParams(args),
    (error) => errorResult("InvalidArguments", `Invalid arguments for tool "${tool.name}": ${error.message}`)
  )

const failureResult = (tool: Tool.Any, cause: Cause.Cause<unknown>): Execution => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    if (failure.value instanceof ToolTimeout) {
      return errorResult("Timeout", `Tool "${tool.name}" timed out and was cancelled.`)
    }
    const encoded = codecsOf(tool).encodeFailure(failure.value)
    const value = Result.isSuccess(encoded) ? encoded.success : String(failure.value)
    let output: string
    try {
      output = stringify({ error: value })
    } catch (error) {
      return unwritable(tool, error)
    }
    return {
      content: truncate(output, tool.returnCharLimit),
      output,
      isError: true,
      errorKind: "ToolFailed",
      value: { error: value }
    }
  }
  if (Cause.hasInterruptsOnly(cause)) {
    return errorResult("Defect", `Tool "${tool.name}" was interrupted before it finished.`)
  }
  const defect = Cause.squash(cause)
  const message = defect instanceof Error ? defect.message : String(defect)
  return errorResult("Defect", `Tool "${tool.name}" failed unexpectedly: ${message}`)
}

/**
 * The type of a layer of the toolkit's handlers, as `toolkit.toLayer(...)` makes it: annotate a handler layer
 * with `Toolkit.LayerOf<typeof toolkit>` (not `Layer.Layer<never>`, which drops the handler services a
 * backend's layer needs). `E` and `R`: what building the handlers may fail with and need.
 */
export type LayerOf<T, E = never, R = never> = Layer.Layer<HandlerIds<ToolsOf<T>>, E, R>

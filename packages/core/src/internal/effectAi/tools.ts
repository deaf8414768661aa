/**
 * Tools and toolkits between agentloop and effect/ai: effect/ai annotations <-> agentloop hints, an effect/ai
 * `Toolkit` (with its handlers) as agentloop tools, an agentloop toolkit as an effect/ai `Toolkit`.
 *
 * @internal
 */
import { Context, type Duration, Effect, Exit, type Layer, Result, Schema, Stream } from "effect"
import * as AiError from "effect/ai/AiError"
import type * as JsonSchema from "effect/JsonSchema"
import * as Prompt from "effect/ai/Prompt"
import * as AiTool from "effect/ai/Tool"
import * as AiToolkit from "effect/ai/Toolkit"
import * as DynamicTool from "../../DynamicTool.js"
import type { ToolDefinition } from "../../LanguageModel.js"
import * as Tool from "../../Tool.js"
import * as Toolkit from "../../Toolkit.js"
import { describeReason } from "./errors.js"

// -----------------------------------------------------------------------------
// annotations <-> hints
// -----------------------------------------------------------------------------

/**
 * The hints an effect/ai tool's annotations set. Only annotations present on the tool count: effect/ai's
 * defaults (`Destructive` and `OpenWorld` default to true) are MCP's, for tools nobody described, and would
 * make every unannotated tool need approval.
 */
export const hintsOf = (tool: AiTool.Any): Tool.Hints | undefined => {
  const annotations = tool.annotations
  const readOnly = Context.getOrUndefined(annotations, AiTool.Readonly)
  const destructive = Context.getOrUndefined(annotations, AiTool.Destructive)
  const idempotent = Context.getOrUndefined(annotations, AiTool.Idempotent)
  const openWorld = Context.getOrUndefined(annotations, AiTool.OpenWorld)
  if (readOnly === undefined && destructive === undefined && idempotent === undefined && openWorld === undefined) return undefined
  return {
    ...(readOnly === undefined ? {} : { readOnly }),
    ...(destructive === undefined ? {} : { destructive }),
    ...(idempotent === undefined ? {} : { idempotent }),
    ...(openWorld === undefined ? {} : { openWorld })
  }
}

/** An effect/ai tool annotated with the hints that are given. */
export const annotate = <T extends AiTool.Any>(tool: T, hints: Tool.Hints | undefined): T => {
  if (hints === undefined) return tool
  let out: AiTool.Any = tool
  if (hints.readOnly !== undefined) out = out.annotate(AiTool.Readonly, hints.readOnly)
  if (hints.destructive !== undefined) out = out.annotate(AiTool.Destructive, hints.destructive)
  if (hints.idempotent !== undefined) out = out.annotate(AiTool.Idempotent, hints.idempotent)
  if (hints.openWorld !== undefined) out = out.annotate(AiTool.OpenWorld, hints.openWorld)
  return out as T
}

// -----------------------------------------------------------------------------
// agentloop tool definitions -> effect/ai dynamic tools (what a model request offers)
// -----------------------------------------------------------------------------

const definitionTools = new WeakMap<ToolDefinition, AiTool.Any>()

/** The effect/ai tool offered for a definition: a dynamic tool with its JSON Schema as it is (one per definition). */
export const definitionTool = (definition: ToolDefinition): AiTool.Any => {
  let tool = definitionTools.get(definition)
  if (tool === undefined) {
    tool = AiTool.dynamic(definition.name, {
      description: definition.description,
      parameters: definition.parameters as JsonSchema.JsonSchema
    }) as AiTool.Any
    definitionTools.set(definition, tool)
  }
  return tool
}

/**
 * A toolkit "with handlers" for a request's tool definitions. effect/ai never runs them (tool call resolution
 * is disabled): calling one is a defect.
 */
export const definitionToolkit = (definitions: ReadonlyArray<ToolDefinition>): AiToolkit.WithHandler<Record<string, AiTool.Any>> => {
  const tools: Record<string, AiTool.Any> = {}
  for (const definition of definitions) tools[definition.name] = definitionTool(definition)
  return {
    tools,
    handle: ((name: string) => Effect.die(new Error(`agentloop runs tool calls itself; effect/ai was asked to run "${name}"`))) as never
  }
}

/** The agentloop definition of an effect/ai tool (JSON Schema: the dynamic tool's own, else its parameters'). */
export const definitionOf = (tool: AiTool.Any): ToolDefinition => ({
  name: tool.name,
  description: AiTool.getDescription(tool) ?? Context.getOrUndefined(tool.annotations, AiTool.Title) ?? tool.name,
  parameters: parametersJsonSchema(tool)
})

const parametersJsonSchema = (tool: AiTool.Any): unknown =>
  AiTool.isDynamic(tool) && tool.jsonSchema !== undefined
    ? tool.jsonSchema
    : Tool.jsonSchemaOf(Schema.toCodecJson(tool.parametersSchema))

// -----------------------------------------------------------------------------
// effect/ai Toolkit -> agentloop toolkit
// -----------------------------------------------------------------------------

/** Overrides for one converted tool, by its name. */
export interface ToolOverride {
  readonly requiresApproval?: boolean | ((args: Readonly<Record<string, unknown>>) => boolean)
  readonly parallel?: boolean
  readonly timeout?: Duration.Input
  readonly returnCharLimit?: number
}

export interface FromToolkitOptions {
  readonly tools?: Readonly<Record<string, ToolOverride>>
}

/** Any JSON object (the arguments reach effect/ai's toolkit as the model sent them). */
const AnyObject = Schema.StructWithRest(Schema.Struct({}), [Schema.Record(Schema.String, Schema.Unknown)])

/**
 * The arguments schema of a converted tool: any JSON object that effect/ai's parameters codec accepts, kept as
 * it is (effect/ai's toolkit decodes it again when it runs the call). So a bad call is refused by the loop with
 * the schema's message, before any approval is asked, and never reaches the handler.
 */
const validatedArguments = (tool: AiTool.Any): Schema.Struct<any> => {
  if (AiTool.isDynamic(tool) && tool.jsonSchema !== undefined) return AnyObject as unknown as Schema.Struct<any>
  const decode = Schema.decodeUnknownResult(Schema.toCodecJson(tool.parametersSchema) as unknown as Schema.Codec<unknown, unknown>)
  return AnyObject.check(
    Schema.makeFilter((input) => {
      const decoded = decode(input)
      return Result.isFailure(decoded) ? decoded.failure.issue : undefined
    })
  ) as unknown as Schema.Struct<any>
}

/** The decoded arguments effect/ai's approval function expects, or undefined when they do not decode. */
const approvalOf = (tool: AiTool.Any): boolean | ((args: Readonly<Record<string, unknown>>) => boolean) | undefined => {
  const needs = tool.needsApproval
  if (needs === undefined || typeof needs === "boolean") return needs
  const decode = Schema.decodeUnknownResult(Schema.toCodecJson(tool.parametersSchema) as unknown as Schema.Codec<unknown, unknown>)
  let calls = 0
  return (args) => {
    const decoded = decode(args)
    // Arguments the tool refuses never run: nothing to approve (the loop decodes them first anyway).
    if (Result.isFailure(decoded)) return false
    const verdict = needs(decoded.success, { toolCallId: `approval_${++calls}`, messages: [] })
    if (typeof verdict === "boolean") return verdict
    // An effectful verdict is run now; one that cannot finish synchronously asks a human (the safe side).
    const exit = Effect.runSyncExit(verdict)
    return Exit.isSuccess(exit) ? exit.value : true
  }
}

/** The agentloop tool for an effect/ai tool: hints from its annotations, approval from `needsApproval`, overrides win. */
export const fromAiTool = (tool: AiTool.Any, override?: ToolOverride): Tool.Any => {
  const hints = hintsOf(tool)
  const defaults = Tool.hintDefaults(hints)
  const requiresApproval = override?.requiresApproval ?? approvalOf(tool) ?? defaults.requiresApproval
  const base = DynamicTool.make(tool.name, {
    description: definitionOf(tool).description,
    parameters: parametersJsonSchema(tool),
    requiresApproval,
    parallel: override?.parallel ?? defaults.parallel,
    ...(override?.timeout === undefined ? {} : { timeout: override.timeout }),
    ...(override?.returnCharLimit === undefined ? {} : { returnCharLimit: override.returnCharLimit })
  })
  return { ...base, parameters: validatedArguments(tool), ...(hints === undefined ? {} : { hints }) }
}

/** A plain, scrubbed description of an effect/ai failure (never the AiError itself: it may hold HTTP context). */
const failureValue = (tool: AiTool.Any, error: unknown): unknown => {
  if (AiError.isAiError(error)) return { type: error.reason._tag, message: describeReason(error.reason) }
  if (AiError.isAiErrorReason(error)) return { type: error._tag, message: describeReason(error) }
  const encoded = Schema.encodeUnknownResult(Schema.toCodecJson(tool.failureSchema) as unknown as Schema.Codec<unknown, unknown>)(error)
  return Result.isSuccess(encoded) ? encoded.success : String(error)
}

/** Runs a call through effect/ai's toolkit: its last final result, a failure value for the model, or a defect. */
const runAiCall = (
  toolkit: AiToolkit.WithHandler<Record<string, AiTool.Any>>,
  tool: AiTool.Any,
  params: unknown,
  toolCallId: string
): Effect.Effect<unknown, unknown> =>
  toolkit.handle(tool.name, params as Schema.Json, toolCallId).pipe(
    Effect.flatMap((results) =>
      Stream.runFold(results, (): AiTool.HandlerResult<AiTool.Any> | undefined => undefined, (last, result) => (result.preliminary ? last : result))
    ),
    Effect.flatMap((result) => {
      if (result === undefined) return Effect.die(new Error(`effect/ai tool "${tool.name}" produced no result`))
      if (result.isFailure) {
        return Effect.fail(AiError.isAiError(result.result) ? failureValue(tool, result.result) : result.encodedResult)
      }
      return Effect.succeed(
        result.modelOutput !== undefined && result.modelOutput.length > 0 ? Prompt.toolModelOutputToText(result.modelOutput) : result.encodedResult
      )
    }),
    Effect.catch((error) => Effect.fail(failureValue(tool, error)))
  ) as Effect.Effect<unknown, unknown>

/** Which effect/ai tools become agentloop tools: the ones this process runs (not provider-defined, not client-executed). */
const convertible = (tool: AiTool.Any): boolean => !AiTool.isProviderDefined(tool) && !AiTool.isClientExecuted(tool)

export const fromToolkit = <Tools extends Record<string, AiTool.Any>>(
  aiToolkit: AiToolkit.Toolkit<Tools>,
  options: FromToolkitOptions = {}
): {
  readonly toolkit: Toolkit.Any
  readonly layer: Layer.Layer<Tool.Handler<string>, never, AiTool.HandlersFor<Tools> | AiTool.HandlerServices<Tools[keyof Tools]>>
} => {
  const aiTools = (Object.values(aiToolkit.tools) as Array<AiTool.Any>).filter(convertible)
  const tools = aiTools.map((tool) => fromAiTool(tool, options.tools?.[tool.name]))
  const toolkit = Toolkit.make(...tools) as unknown as Toolkit.Any
  const handlers = Effect.gen(function* () {
    const withHandler = (yield* aiToolkit) as unknown as AiToolkit.WithHandler<Record<string, AiTool.Any>>
    const context = yield* Effect.context<never>()
    const out: Record<string, Tool.AnyHandlerFn> = {}
    for (const tool of aiTools) {
      out[tool.name] = (params, handlerContext) =>
        Effect.provideContext(runAiCall(withHandler, tool, params, handlerContext.toolCallId), context)
    }
    return out as Toolkit.Handlers<Record<string, Tool.Any>>
  })
  return { toolkit, layer: toolkit.toLayer(handlers) as never }
}

// -----------------------------------------------------------------------------
// agentloop toolkit -> effect/ai Toolkit
// -----------------------------------------------------------------------------

/** An agentloop tool as effect/ai sees it: its JSON Schema, any JSON result, failures returned to the model. */
export type ExportedTool = AiTool.Dynamic<
  string,
  {
    readonly parameters: JsonSchema.JsonSchema
    readonly success: typeof Schema.Unknown
    readonly failure: typeof Schema.Unknown
    readonly failureMode: "return"
  }
>

export type ExportedTools = Record<string, ExportedTool>

export interface ToToolkitOptions {
  /**
   * The `runId` handlers see, and the prefix of their idempotency keys (`<runId>:<toolCallId>`). Default
   * `"effect-ai"`.
   */
  readonly runId?: string
}

/** effect/ai's `needsApproval` for an agentloop tool: a predicate sees the arguments as the tool decodes them. */
const needsApprovalOf = (tool: Tool.Any): AiTool.NeedsApproval<Schema.Top> | undefined => {
  const requires = tool.requiresApproval
  if (requires === false) return undefined
  if (requires === true) return true
  return (params) => {
    const decoded = Toolkit.decodeArguments(tool, params as Record<string, unknown>)
    // The toolkit refuses these arguments without running anything: nothing to approve.
    return Result.isSuccess(decoded) && requires(decoded.success as never)
  }
}

/** The effect/ai tool for an agentloop tool: a dynamic tool with its definition's JSON Schema and its hints. */
export const toAiTool = (tool: Tool.Any): ExportedTool => {
  const needsApproval = needsApprovalOf(tool)
  const aiTool = AiTool.dynamic(tool.name, {
    description: tool.description,
    parameters: tool.definition.parameters as JsonSchema.JsonSchema,
    success: Schema.Unknown,
    failure: Schema.Unknown,
    failureMode: "return",
    ...(needsApproval === undefined ? {} : { needsApproval })
  }) as unknown as ExportedTool
  return annotate(aiTool, tool.hints)
}

/** What an executed call gives effect/ai: the encoded result, or the text the model sees when it was truncated. */
const resultOf = (execution: Toolkit.Execution): unknown => (execution.content === execution.output ? execution.value : execution.content)

export const toToolkit = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>,
  options: ToToolkitOptions = {}
): {
  readonly toolkit: AiToolkit.Toolkit<ExportedTools>
  readonly layer: Layer.Layer<AiTool.Handler<string>, Toolkit.MissingHandlers, Toolkit.HandlerIds<Tools>>
} => {
  const runId = options.runId ?? "effect-ai"
  const tools = Object.values(toolkit.tools) as Array<Tool.Any>
  const aiToolkit = AiToolkit.make(...tools.map(toAiTool)) as unknown as AiToolkit.Toolkit<ExportedTools>
  let anonymous = 0
  const handlers = Effect.map(Toolkit.resolve(toolkit), (resolved) => {
    const out: Record<string, (params: unknown, context: AiToolkit.HandlerContext<ExportedTool>) => Effect.Effect<unknown, unknown>> = {}
    for (const tool of tools) {
      out[tool.name] = (params, context) => {
        const toolCallId = context.toolCallId ?? `call_${++anonymous}`
        return Toolkit.executeThen(
          resolved,
          { name: tool.name, args: params as Record<string, unknown> },
          { runId, toolCallId, idempotencyKey: `${runId}:${toolCallId}` },
          (execution) => (execution.isError ? Effect.fail(execution.value) : Effect.succeed(resultOf(execution)))
        )
      }
    }
    return out
  })
  return { toolkit: aiToolkit, layer: aiToolkit.toLayer(handlers as never) as never }
}

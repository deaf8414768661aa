/**
 * The two model adapters: an effect/ai `LanguageModel` as an agentloop `LanguageModel`, and back.
 *
 * @internal
 */
import { Effect, Stream } from "effect"
import * as AiLanguageModel from "effect/ai/LanguageModel"
import type * as Response from "effect/ai/Response"
import * as Telemetry from "effect/ai/Telemetry"
import * as AiTool from "effect/ai/Tool"
import type { Span } from "effect/Tracer"
import * as LanguageModel from "../../LanguageModel.js"
import * as Tool from "../../Tool.js"
import { errorPartToModelError, toAiError, toModelError } from "./errors.js"
import { fromPrompt, toPrompt } from "./prompt.js"
import { FromAiParts, fromAiToolChoice, toAiToolChoice, ToAiParts } from "./response.js"
import { definitionOf, definitionToolkit } from "./tools.js"

// -----------------------------------------------------------------------------
// effect/ai LanguageModel -> agentloop LanguageModel
// -----------------------------------------------------------------------------

export interface FromOptions {
  /** `ModelError.provider` (and the prefix of its message). Default `"effect-ai"`. */
  readonly provider?: string
}

/**
 * What effect/ai is asked for one step: the conversation as a prompt, the offered tools as dynamic tools with
 * their JSON Schemas, the tool choice, and tool calls returned as they are (never resolved by effect/ai,
 * arguments not validated by it: the loop does both, with its rules and approvals). Typed as the simplest
 * overload of `generateText`/`streamText`: their types follow a toolkit known at compile time, ours is built per step.
 */
const generateOptions = (request: LanguageModel.ModelRequest) =>
  (request.tools.length === 0
    ? { prompt: toPrompt(request.messages), disableToolCallResolution: true, toolCallValidation: "deferred" }
    : {
        prompt: toPrompt(request.messages),
        toolkit: definitionToolkit(request.tools),
        toolChoice: toAiToolChoice(request.toolChoice),
        disableToolCallResolution: true,
        toolCallValidation: "deferred"
      }) as unknown as { readonly prompt: string }

/** effect/ai's parts of one step as agentloop parts: chunk by chunk, failing on an error part. */
const mapStream = (
  stream: Stream.Stream<Response.AnyPart, unknown>,
  provider: string
): Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError> =>
  Stream.suspend(() => {
    const parts = new FromAiParts()
    return Stream.transformPull(
      Stream.mapError(stream, (error) => toModelError(error, provider, parts.received)),
      (pull) => {
        // A chunk may map to nothing (text boundaries, partial tool arguments): pull on until one does not.
        const next: Effect.Effect<ReadonlyArray<LanguageModel.ResponsePart>, any> = Effect.flatMap(pull, (chunk) => {
          const out = parts.add(chunk)
          if (parts.error !== undefined) return Effect.fail(errorPartToModelError(parts.error.value, provider, parts.received))
          return out.length === 0 ? next : Effect.succeed(out)
        })
        return Effect.succeed(next as never)
      }
    ) as Stream.Stream<LanguageModel.ResponsePart, LanguageModel.ModelError>
  })

export const fromLanguageModel = (model: AiLanguageModel.LanguageModel, options: FromOptions = {}): LanguageModel.Service => {
  const provider = options.provider ?? "effect-ai"
  return {
    streamStep: (request) =>
      mapStream(model.streamText(generateOptions(request)) as Stream.Stream<Response.AnyPart, unknown>, provider),
    // effect/ai's JSON response format takes an Effect Schema (re-rendered by each provider's codec
    // transformer) through the non-streaming `generateObject`, which fails the call on an invalid answer: a
    // typed output goes through the final-answer tool instead, whose JSON Schema reaches the provider as it is.
    outputMode: "tool"
  }
}

// -----------------------------------------------------------------------------
// agentloop LanguageModel -> effect/ai LanguageModel
// -----------------------------------------------------------------------------

export interface ToOptions {
  /** `gen_ai.provider.name` on effect/ai's `LanguageModel` spans. */
  readonly provider?: string
}

const definitions = new WeakMap<AiTool.Any, LanguageModel.ToolDefinition>()
const definitionFor = (tool: AiTool.Any): LanguageModel.ToolDefinition => {
  let definition = definitions.get(tool)
  if (definition === undefined) {
    definition = definitionOf(tool)
    definitions.set(tool, definition)
  }
  return definition
}

/**
 * effect/ai's provider options as an agentloop request. Provider-defined tools are left out (an agentloop model
 * cannot run another provider's built-in tools); a JSON response format becomes `responseFormat` with the
 * schema's JSON Schema as `Output` renders it.
 */
export const toModelRequest = (options: AiLanguageModel.ProviderOptions): LanguageModel.ModelRequest => {
  const tools = options.tools.filter((tool) => !AiTool.isProviderDefined(tool)).map(definitionFor)
  return {
    messages: fromPrompt(options.prompt),
    tools,
    availableTools: tools,
    toolChoice: fromAiToolChoice(options.toolChoice),
    parallelToolCalls: true,
    ...(options.responseFormat.type === "json"
      ? { responseFormat: { name: options.responseFormat.objectName, schema: Tool.jsonSchemaOf(options.responseFormat.schema) } }
      : {})
  }
}

/** The OpenTelemetry GenAI attributes effect/ai's providers set on the `LanguageModel.*` span. */
const annotateFinish = (span: Span, provider: string | undefined) => (finish: Response.FinishPartEncoded) =>
  Telemetry.addGenAIAnnotations(span, {
    operation: { name: "chat" },
    ...(provider === undefined ? {} : { provider: { name: provider } }),
    response: { finishReasons: [finish.reason] },
    usage: { inputTokens: finish.usage.inputTokens.total, outputTokens: finish.usage.outputTokens.total }
  })

/**
 * An agentloop model as an effect/ai `LanguageModel` (made with `LanguageModel.make`): `generateText` takes
 * the model's whole step (its pushed parts when it has `pushStep`, else its collected stream), `streamText` its stream, with text as
 * `text-start`/`text-delta`/`text-end` parts. effect/ai then does what it does for any provider: decodes the
 * parts, resolves tool calls with the request's toolkit, records its span.
 */
export const toLanguageModel = (model: LanguageModel.Service, options: ToOptions = {}): Effect.Effect<AiLanguageModel.LanguageModel> =>
  AiLanguageModel.make({
    generateText: (providerOptions) =>
      Effect.suspend(() => {
        const request = toModelRequest(providerOptions)
        if (model.pushStep === undefined) return Stream.runCollect(model.streamStep(request))
        const parts: Array<LanguageModel.ResponsePart> = []
        return Effect.as(
          model.pushStep(request, (batch) => {
            parts.push(...batch)
          }),
          parts
        )
      }).pipe(
        Effect.map((parts) => {
          const mapper = new ToAiParts(false, annotateFinish(providerOptions.span, options.provider))
          return [...mapper.add(parts), ...mapper.end()] as Array<Response.PartEncoded>
        }),
        Effect.mapError((error) => toAiError(error, "generateText"))
      ),
    streamText: (providerOptions) =>
      Stream.suspend(() => model.streamStep(toModelRequest(providerOptions))).pipe(
        Stream.mapAccumArray(
          () => new ToAiParts(true, annotateFinish(providerOptions.span, options.provider)),
          (mapper, parts) => [mapper, mapper.add(parts) as Array<Response.StreamPartEncoded>] as const,
          { onHalt: (mapper) => mapper.end() as Array<Response.StreamPartEncoded> }
        ),
        Stream.mapError((error) => toAiError(error, "streamText"))
      )
  })

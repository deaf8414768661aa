/**
 * Interop with Effect's own AI modules (`effect/ai`), both ways:
 *
 * - any effect/ai `LanguageModel` (every `@effect/ai-*` provider, or one made with `LanguageModel.make`) serves
 *   as agentloop's `LanguageModel`: `EffectAi.layer`. The loop keeps running the tools (rules, approvals,
 *   durable runs): effect/ai is asked with `disableToolCallResolution: true`, and tool calls come back as they are.
 * - an agentloop `LanguageModel` (a Heroku adapter, a `ScriptedModel`) serves as effect/ai's `LanguageModel`:
 *   `EffectAi.layerEffectAi`, so effect/ai code (`LanguageModel.generateText`, `Chat`) runs on our backends.
 * - an effect/ai `Toolkit` with its handlers becomes agentloop tools (`fromToolkit`), an agentloop toolkit with
 *   its handlers an effect/ai `Toolkit` (`toToolkit`); effect/ai's tool annotations are agentloop's tool hints.
 *
 * **Conversation** (agentloop `Message` -> effect/ai `Prompt` message, `toPrompt`; `fromPrompt` the other way)
 *
 * | agentloop | effect/ai |
 * |---|---|
 * | `SystemMessage` | `system` |
 * | `UserMessage` | `user` with a text part (`fromPrompt`: text parts joined by newlines; files as `[type name omitted]`) |
 * | `AssistantMessage` text, `toolCalls` | `assistant` with a text part and `tool-call` parts (arguments parsed; `remote` calls `providerExecuted`) |
 * | `ToolMessage` (consecutive ones) | one `tool` message of `tool-result` parts (`result`: the content text; `isFailure`: `isError`) |
 * | `AssistantMessage.approvalRequests`, `ApprovalMessage` | text parts (effect/ai resolves its approval parts itself, as approvals of local tools) |
 * | `fromPrompt`: provider-executed `tool-result` in an assistant message | a `ToolMessage` after it |
 * | `fromPrompt`: `tool-approval-response` | `ApprovalMessage` for the call its request named |
 *
 * **Response parts** (effect/ai -> agentloop, in `layer`; agentloop -> effect/ai in `layerEffectAi`)
 *
 * | effect/ai | agentloop |
 * |---|---|
 * | `text-delta` / `text` | `TextDelta` (`text-start`/`text-end` around each run of deltas the other way) |
 * | `tool-call` | `ToolCall` (`RemoteToolCall` when `providerExecuted`) |
 * | `tool-result` (provider-executed, final) | `RemoteToolResult` |
 * | `finish` | `Finish` (reason and usage below) |
 * | `error` | the step fails with `ModelError` (`provider-error`) |
 * | `reasoning*`, `file`, `source`, `response-metadata`, `tool-approval-request` | `Raw` (`source: "effect/ai"`) |
 * | other way: `RemoteToolCall`, `RemoteToolResult`, `ApprovalRequest`, `Metadata`, `Raw` | the finish part's `metadata.agentloop` (effect/ai decodes calls against its toolkit, so a call of a tool it does not know would fail the response) |
 *
 * **Finish reasons**: `stop` ↔ `stop`, `tool-calls` ↔ `tool_calls`, `length` ↔ `length`, `content-filter` ↔
 * `content_filter`, `error` ↔ `error`, `other`/`pause` → `other` → `other`, `unknown` → `tool_calls` if calls
 * arrived, else `stop` (what agentloop assumes of a step without a finish reason).
 *
 * **Usage**: agentloop `inputTokens` = effect/ai `inputTokens.total` (else uncached + cacheRead + cacheWrite),
 * `outputTokens` = `outputTokens.total` (else text + reasoning), `totalTokens` their sum; the other way the
 * totals, without breakdowns.
 *
 * **Tool choice**: `none`/`auto`/`required` are the same; `{ function: F }` ↔ `{ tool: F }`; effect/ai's
 * `{ mode, oneOf }` → `required` (`{ function }` if `oneOf` names one tool) or `auto`, the tools narrowed to `oneOf`.
 *
 * **Typed output**: effect/ai's JSON response format takes an Effect Schema (re-rendered by each provider's codec
 * transformer) through the non-streaming `generateObject`, which fails the call on an invalid answer. So `layer()`
 * declares `outputMode: "tool"`: agents with `outputMode: "auto"` get the final-answer tool, whose JSON Schema
 * reaches the provider unchanged and whose answers the loop validates (and returns to the model when invalid).
 * A request's `responseFormat` (agents with `outputMode: "response_format"`) is not sent. The other way,
 * effect/ai's `generateObject` schema reaches the agentloop model as `responseFormat`.
 *
 * **Errors** (`AiError` -> `ModelError`): `retryable` = the reason's `isRetryable`; `reason`: `transport` for
 * `NetworkError`, `status` (with `status`) when the reason has an HTTP response, else `provider-error`; the
 * message is built from the reason's fields (URL query strings, bearer values and key-like tokens scrubbed; an
 * authentication error says only its kind), never from its headers or body; `cause` is a plain summary
 * (`module`, `method`, `reason`, `status`, `retryAfterMillis`). The other way (`ModelError` -> `AiError`): a
 * status picks effect/ai's class for it (`AiError.reasonFromHttpStatus`), otherwise `retryable` picks
 * `NetworkError` (transport, timeouts) / `InternalProviderError` or `UnknownError` / `InvalidResponseError`.
 *
 * **Tool hints** (effect/ai annotations present on the tool ↔ `Tool.Hints`; absent annotations are absent hints,
 * not effect/ai's MCP-style defaults):
 *
 * | effect/ai annotation | MCP annotation | agentloop hint | default it sets (`Tool.hintDefaults`) |
 * |---|---|---|---|
 * | `Tool.Readonly` | `readOnlyHint` | `readOnly` | `parallel: true` (a tool with hints but not read-only runs alone) |
 * | `Tool.Destructive` | `destructiveHint` | `destructive` | `requiresApproval: true` |
 * | `Tool.Idempotent` | `idempotentHint` | `idempotent` | none |
 * | `Tool.OpenWorld` | `openWorldHint` | `openWorld` | none |
 * | `needsApproval` (boolean or function) | | `requiresApproval` | wins over the hints; per-tool overrides win over both |
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option } from "effect"
import * as AiLanguageModel from "effect/ai/LanguageModel"
import * as AiModel from "effect/ai/Model"
import { LanguageModel } from "./LanguageModel.js"
import * as internalModel from "./internal/effectAi/model.js"
import { layerConstructor } from "./internal/layerConstructor.js"
import * as internalTools from "./internal/effectAi/tools.js"

export { fromPrompt, toPrompt } from "./internal/effectAi/prompt.js"
export { fromAiFinishReason, fromAiToolChoice, fromAiUsage, toAiFinishReason, toAiToolChoice, toAiUsage } from "./internal/effectAi/response.js"
export { toAiError, toModelError } from "./internal/effectAi/errors.js"
export { annotate as annotateHints, hintsOf } from "./internal/effectAi/tools.js"

// -----------------------------------------------------------------------------
// effect/ai LanguageModel -> agentloop LanguageModel
// -----------------------------------------------------------------------------

export type FromOptions = internalModel.FromOptions

/** An effect/ai `LanguageModel` as agentloop's `LanguageModel` service (streaming, and whole steps). */
export const fromLanguageModel: (model: AiLanguageModel.LanguageModel, options?: FromOptions) => LanguageModel["Service"] = internalModel.fromLanguageModel

/**
 * agentloop's `LanguageModel` from the effect/ai `LanguageModel` in context: put any effect/ai provider's layer
 * (e.g. `OpenAiLanguageModel.model("gpt-5.2")`) under it. `provider` defaults to the effect/ai model's
 * `Model.ProviderName` when it has one, else `"effect-ai"`. A layer and its constructor: `EffectAi.layer` or
 * `EffectAi.layer({ provider: "openai" })`.
 */
export const layer: Layer.Layer<LanguageModel, never, AiLanguageModel.LanguageModel> & ((options?: FromOptions) => Layer.Layer<LanguageModel, never, AiLanguageModel.LanguageModel>) = layerConstructor((options: FromOptions = {}) =>
  Layer.effect(
    LanguageModel,
    Effect.gen(function* () {
      const model = yield* AiLanguageModel.LanguageModel
      const provider = options.provider ?? Option.getOrElse(yield* Effect.serviceOption(AiModel.ProviderName), () => "effect-ai")
      return internalModel.fromLanguageModel(model, { provider })
    })
  ))

// -----------------------------------------------------------------------------
// agentloop LanguageModel -> effect/ai LanguageModel
// -----------------------------------------------------------------------------

export type ToOptions = internalModel.ToOptions

/** An agentloop model as an effect/ai `LanguageModel` (built with effect/ai's `LanguageModel.make`). */
export const toLanguageModel: (model: LanguageModel["Service"], options?: ToOptions) => Effect.Effect<AiLanguageModel.LanguageModel> =
  internalModel.toLanguageModel

/**
 * effect/ai's `LanguageModel` from the agentloop `LanguageModel` in context (e.g. a Heroku adapter's layer). A
 * layer and its constructor: `EffectAi.layerEffectAi` or `EffectAi.layerEffectAi(options)`.
 */
export const layerEffectAi: Layer.Layer<AiLanguageModel.LanguageModel, never, LanguageModel> & ((options?: ToOptions) => Layer.Layer<AiLanguageModel.LanguageModel, never, LanguageModel>) = layerConstructor(
  (options: ToOptions = {}) =>
    Layer.effect(AiLanguageModel.LanguageModel, Effect.flatMap(LanguageModel, (model) => internalModel.toLanguageModel(model, options)))
)

/** An agentloop request as effect/ai's provider options would make it (used by `toLanguageModel`). */
export const toModelRequest = internalModel.toModelRequest

// -----------------------------------------------------------------------------
// Toolkits
// -----------------------------------------------------------------------------

export type ToolOverride = internalTools.ToolOverride
export type FromToolkitOptions = internalTools.FromToolkitOptions
export type ToToolkitOptions = internalTools.ToToolkitOptions
export type ExportedTool = internalTools.ExportedTool
export type ExportedTools = internalTools.ExportedTools

/**
 * An effect/ai `Toolkit` as agentloop tools, with a layer of agentloop handlers that run each call through the
 * effect/ai toolkit's own handler (provide the toolkit's `toLayer(...)` to it). The tools' parameters are
 * checked by the effect/ai schema before approval is asked; results are the encoded results (or the model
 * output text when the tool has `toModelOutput`); failures, returned or raised, reach the model as tool errors.
 * Provider-defined and client-executed tools are left out (nothing here runs them).
 */
export const fromToolkit = internalTools.fromToolkit

/**
 * An agentloop toolkit as an effect/ai `Toolkit` of dynamic tools (each with its JSON Schema, its hints as
 * annotations and its approval as `needsApproval`), with a layer of effect/ai handlers that execute each call
 * with agentloop's toolkit (argument decoding, timeouts, result limits, redaction; provide the agentloop
 * toolkit's `toLayer(...)` to it). Failures use `failureMode: "return"`: the model sees them as tool errors.
 */
export const toToolkit = internalTools.toToolkit

/** The agentloop tool for one effect/ai tool (see `fromToolkit`). */
export const fromAiTool = internalTools.fromAiTool

/** The effect/ai tool for one agentloop tool (see `toToolkit`). */
export const toAiTool = internalTools.toAiTool

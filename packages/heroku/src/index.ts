/**
 * @agentloop/heroku: Heroku Managed Inference and Agents.
 *
 * @example
 * ```ts
 * import { ChatModel } from "@agentloop/heroku"
 * import { Layer, Redacted } from "effect"
 * import { FetchHttpClient } from "effect/http"
 *
 * // a LanguageModel layer over Heroku Managed Inference (or any OpenAI-compatible server)
 * const model = ChatModel.layer({
 *   url: "https://us.inference.heroku.com",
 *   key: Redacted.make(process.env["INFERENCE_KEY"] ?? ""),
 *   model: "claude-4-sonnet"
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as AgentsModel from "./AgentsModel.js"
export * as ChatModel from "./ChatModel.js"
export * as HerokuInference from "./HerokuInference.js"

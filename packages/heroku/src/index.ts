/**
 * @agentloop/heroku: Heroku Managed Inference and Agents.
 *
 * @since 0.1.0
 */
export * as AgentsModel from "./AgentsModel.js"
export * as ChatModel from "./ChatModel.js"
export * as HerokuInference from "./HerokuInference.js"

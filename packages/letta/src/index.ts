/**
 * @agentloop/letta: Letta agents as an agentloop backend, tool-rule translation, and the Tools API.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as LettaClient from "./LettaClient.js"
export * as LettaModel from "./LettaModel.js"
export * as LettaRules from "./LettaRules.js"

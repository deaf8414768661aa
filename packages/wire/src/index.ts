/**
 * @agentloop/wire: wire code shared by every agentloop backend.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as ChatCompletions from "./ChatCompletions.js"
export * as Http from "./Http.js"
export * as Incremental from "./Incremental.js"
export * as Model from "./Model.js"
export * as Ndjson from "./Ndjson.js"
export * as Retry from "./Retry.js"
export * as Sse from "./Sse.js"
export * as Timeout from "./Timeout.js"

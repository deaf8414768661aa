/**
 * @agentloop/workflow: durable agent runs on effect/workflow.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as ApprovalInbox from "./ApprovalInbox.js"
export * as Durable from "./Durable.js"

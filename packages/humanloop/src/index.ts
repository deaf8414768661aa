/**
 * @agentloop/humanloop: Humanloop Agents as an agentloop backend.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as HumanloopModel from "./HumanloopModel.js"

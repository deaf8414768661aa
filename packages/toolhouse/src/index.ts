/**
 * @agentloop/toolhouse: Toolhouse workers as an agentloop backend.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as ToolhouseModel from "./ToolhouseModel.js"

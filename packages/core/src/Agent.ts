/**
 * An agent definition: instructions, a toolkit, tool rules, tool choice and stop conditions. It is plain
 * data; a backend (the local loop, or a hosted API) runs it.
 *
 * @since 0.1.0
 */
export {
  type Agent,
  type Any,
  checkStop,
  InvalidToolChoice,
  make,
  type Options,
  StopCondition,
  type StopContext
} from "./internal/agent.js"

/** A tool that transfers the conversation to another agent (see `Handoff`). */
export { make as handoff } from "./Handoff.js"

/** Runs an agent as one tool call of another agent (see `SubAgent`). */
export { asTool } from "./SubAgent.js"

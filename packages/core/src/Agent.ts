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

/**
 * Runs an agent in one call, to its typed outcome (`Completed`, `Suspended`, `Stopped`): `run` / `resume`
 * as Effects, `runPromise` / `resumePromise` for code outside Effect. The model, handlers, approvals and
 * store come from the options, else from the context, else defaults (approvals suspend, runs kept in this
 * process's memory). See docs/getting-started.md.
 */
export {
  type Handler as RunHandler,
  type Handlers as RunHandlers,
  type OptionsError as RunOptionsError,
  type OptionsServices as RunOptionsServices,
  type PromiseOptions as RunPromiseOptions,
  resume,
  resumePromise,
  run,
  type RunOptions,
  runPromise
} from "./internal/run.js"

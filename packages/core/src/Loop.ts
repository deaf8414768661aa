/**
 * The local agent loop: reason -> run tools -> continue, until the model answers without tools, a terminal
 * rule fires, a stop condition holds, or approvals are pending.
 *
 * Invariants, each kept in one module of `internal/loop/` (docs/core.md, "Map of the core"):
 * - every tool call the model makes ends with exactly one tool result (executed, rejected, or denied)
 *   (`calls.ts`);
 * - tool rules are checked before approval is asked, so an approval never lets a forbidden call through
 *   (`triage.ts`);
 * - a call that needs approval runs at most once, and only after an approval for exactly that call: its run,
 *   id, tool, arguments and agent, bound by one digest (`triage.ts`, `RunIntegrity`);
 * - the run goes only where the step machine's table says (`machine.ts`, driven by `driver.ts`);
 * - the run state is persisted when the run suspends, finishes, fails or is interrupted, so no state is lost;
 *   a run is claimed (compare-and-set, with a lease) before it runs, every later write is a compare-and-set
 *   against the owner's last revision, and no side effect starts on a lease that has lapsed: one owner at a
 *   time (`lifecycle.ts`, see `RunClaim`).
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import type { AgentEvent } from "./AgentEvent.js"
import type * as Approval from "./Approval.js"
import type * as Agent from "./internal/agent.js"
import type { BindError } from "./internal/loop/context.js"
import * as Runner from "./internal/loop/runner.js"
import type { LoopError, Options, Requirements, RunInput, Runner as RunnerService } from "./internal/loop/types.js"
import * as RunEvents from "./RunEvents.js"
import type { RunOutcome } from "./RunState.js"
import type * as Tool from "./Tool.js"

export { validateAgent } from "./internal/loop/context.js"
export {
  type LoopError,
  type Options,
  type Requirements,
  RunAlreadyExists,
  type RunInput,
  type Runner,
  RunNotFound,
  RunNotResumable
} from "./internal/loop/types.js"

/**
 * Binds an agent to the services in context: its rules validated, analysed and compiled, its tool choice,
 * handoffs and typed output checked, its handlers and services looked up, once. An `EventObserver` or
 * `StepRunner` found here is used for every run; without one, each run looks for them where it runs.
 */
export const makeRunner = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>
): Effect.Effect<RunnerService, BindError, Requirements<Tools> | R> =>
  Runner.makeRunner(agent as unknown as Agent.Any) as Effect.Effect<RunnerService, BindError, Requirements<Tools> | R>

/** Runs an agent on new input until it completes, stops or suspends. */
export const run = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  input: RunInput,
  options?: Options
): Effect.Effect<RunOutcome, LoopError, Requirements<Tools> | R> => Effect.flatMap(makeRunner(agent), (runner) => runner.run(input, options))

/**
 * Resumes a suspended run with approval decisions (or a failed run, to retry it). Decisions must match
 * pending approvals exactly; calls left undecided stay pending and the run suspends again.
 */
export const resume = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>,
  options?: Options
): Effect.Effect<RunOutcome, LoopError, Requirements<Tools> | R> =>
  Effect.flatMap(makeRunner(agent), (runner) => runner.resume(runId, decisions, options))

/** `run` as a stream of events; the last event is `RunFinished` with the outcome. */
export const stream = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  input: RunInput
): Stream.Stream<AgentEvent, LoopError, Requirements<Tools> | R> => toStream((options) => run(agent, input, options))

/** `resume` as a stream of events. */
export const resumeStream = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>
): Stream.Stream<AgentEvent, LoopError, Requirements<Tools> | R> => toStream((options) => resume(agent, runId, decisions, options))

/**
 * Turns a loop that reports events through `onEvent` into a stream of those events, a chunk per batch (see
 * `RunEvents.toStream`): the run is forked when the stream starts, waits while `capacity` events are unread,
 * and is interrupted (and stored as resumable) if the consumer stops early.
 */
export const toStream = <E, R>(start: RunEvents.Start<unknown, E, R>, capacity?: number): Stream.Stream<AgentEvent, E, R> =>
  RunEvents.toStream(start, capacity)

/** Collects the outcome from an event stream (its `RunFinished` event). */
export const outcomeOf = <E, R>(events: Stream.Stream<AgentEvent, E, R>): Effect.Effect<Option.Option<RunOutcome>, E, R> =>
  Stream.runFold(events, Option.none<RunOutcome>, (last, event) => (event._tag === "RunFinished" ? Option.some(event.outcome) : last))

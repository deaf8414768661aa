/**
 * The loop's public vocabulary: its errors, what a run takes (`RunInput`, `Options`) and what a `Runner`
 * offers. `Loop` re-exports all of it; the loop's own modules import it from here.
 *
 * @internal
 */
import { type Effect, Schema, type Stream } from "effect"
import type { AgentEvent } from "../../AgentEvent.js"
import type * as Approval from "../../Approval.js"
import type * as Handoff from "../../Handoff.js"
import type { LanguageModel, ModelError } from "../../LanguageModel.js"
import type * as Message from "../../Message.js"
import type * as Output from "../../Output.js"
import type * as RunClaim from "../../RunClaim.js"
import type * as RunIntegrity from "../../RunIntegrity.js"
import type { RunOutcome, RunStateError } from "../../RunState.js"
import type { RunStore, RunStoreError } from "../../RunStore.js"
import type * as Tool from "../../Tool.js"
import type * as Toolkit from "../../Toolkit.js"
import type * as ToolRule from "../../ToolRule.js"
import type { InvalidToolChoice } from "../agent.js"

export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", { runId: Schema.String }) {
  override get message(): string {
    return `No run ${this.runId} in the run store`
  }
}

/** The run exists but cannot be resumed: it is not suspended or failed, or it belongs to another agent. */
export class RunNotResumable extends Schema.TaggedError<RunNotResumable>()("RunNotResumable", {
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Run ${this.runId} cannot be resumed: ${this.reason}`
  }
}

/** `run` was given a run id that the store already holds (runs are never overwritten). */
export class RunAlreadyExists extends Schema.TaggedError<RunAlreadyExists>()("RunAlreadyExists", { runId: Schema.String }) {
  override get message(): string {
    return `Run ${this.runId} already exists; resume it, or start a new run with another id`
  }
}

export type LoopError =
  | ModelError
  | RunAlreadyExists
  | ToolRule.InvalidToolRules
  | InvalidToolChoice
  | Output.InvalidOutput
  | Toolkit.MissingHandlers
  | Handoff.InvalidHandoffs
  | RunNotFound
  | RunNotResumable
  | Approval.InvalidApprovalDecision
  | Approval.ApprovalExpired
  | RunClaim.RunBusy
  | RunClaim.RunLeaseLost
  | RunIntegrity.RunStateTampered
  | RunStoreError
  | RunStateError

export interface RunInput {
  /** A user prompt, or a whole conversation to continue. */
  readonly input: string | ReadonlyArray<Message.Message>
  /** Defaults to a fresh `run_<uuid>`; give your own to correlate with your records. An id already in the store fails with `RunAlreadyExists`. */
  readonly runId?: string
}

export interface Options {
  /** Called synchronously with every event, in order. */
  readonly onEvent?: (event: AgentEvent) => void
  /**
   * Backpressure from the consumer of `onEvent`: asked before each model step (and between the chunks of a
   * streamed one), it returns an Effect to wait for first, or undefined to go on at once.
   */
  readonly ready?: () => Effect.Effect<void> | undefined
}

export type Requirements<Tools extends Record<string, Tool.Any>> =
  | LanguageModel
  | Approval.Approvals
  | RunStore
  | Toolkit.HandlerIds<Tools>

/**
 * An agent bound to its services: rules validated and compiled, handlers and services looked up once.
 * Backends build one when their layer is built, so a run pays only for itself.
 */
export interface Runner {
  /** Runs new input until the run completes, stops or suspends. */
  readonly run: (input: RunInput, options?: Options) => Effect.Effect<RunOutcome, LoopError>
  /** Resumes a suspended (or failed) run with approval decisions. */
  readonly resume: (
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>,
    options?: Options
  ) => Effect.Effect<RunOutcome, LoopError>
  /** `run` as a stream of events; the last event is `RunFinished` with the outcome. */
  readonly stream: (input: RunInput) => Stream.Stream<AgentEvent, LoopError>
  /** `resume` as a stream of events. */
  readonly resumeStream: (runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>) => Stream.Stream<AgentEvent, LoopError>
}

/**
 * The serializable state of a run, and its outcome. `RunState` is versioned and round-trips through JSON,
 * so a run suspended in one process resumes in another.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { ApprovalDecision, PendingApproval } from "./Approval.js"
import { Message, ToolCall, Usage } from "./Message.js"

export const CURRENT_VERSION = 1

export const Completed = Schema.TaggedStruct("Completed", {
  runId: Schema.String,
  /** `end_turn`: the model answered without tools. `terminal_tool`: a terminal rule's tool ran. */
  reason: Schema.Literals(["end_turn", "terminal_tool"]),
  /** The last text the model produced (a terminal tool's step often has none of its own). */
  text: Schema.String,
  /** The answer decoded by the agent's `output` schema (agents with a typed output only; see `Output`). */
  output: Schema.optional(Schema.Unknown),
  /**
   * The agent that gave the answer, on runs of an agent with handoffs (see `Handoff`): its `output` schema
   * decoded `output` (`Output.ofAgent` checks it).
   */
  agent: Schema.optional(Schema.String),
  steps: Schema.Number,
  usage: Usage
})
export type Completed = typeof Completed.Type

export const Suspended = Schema.TaggedStruct("Suspended", {
  runId: Schema.String,
  pending: Schema.Array(PendingApproval),
  steps: Schema.Number,
  usage: Usage
})
export type Suspended = typeof Suspended.Type

/**
 * `tool_choice`: the model kept answering in text under a forced tool choice, past the re-prompt budget.
 * `invalid_output`: the final answer kept failing the agent's output schema, past its retries.
 * `max_handoffs`: the model called a handoff once more than the run's `maxHandoffs` allows.
 * `handoff_failed`: a handoff's input filter threw (or returned no list); the run stays with the agent before it.
 * `context_budget`: the `ContextPolicy`'s token budget cannot hold the messages every request must carry (the
 * instructions, the newest user turn, the current step); the step was not sent (see `ContextPolicy`).
 */
export const StopReason = Schema.Literals([
  "max_steps",
  "stop_condition",
  "max_tokens",
  "content_filter",
  "tool_choice",
  "invalid_output",
  "max_handoffs",
  "handoff_failed",
  "context_budget"
])
export type StopReason = typeof StopReason.Type

export const Stopped = Schema.TaggedStruct("Stopped", {
  runId: Schema.String,
  reason: StopReason,
  detail: Schema.String,
  text: Schema.String,
  steps: Schema.Number,
  usage: Usage
})
export type Stopped = typeof Stopped.Type

export const RunOutcome = Schema.Union([Completed, Suspended, Stopped])
export type RunOutcome = typeof RunOutcome.Type

/**
 * `interrupted`: the run's fiber was interrupted; the state records the calls that were in flight, and
 * `resume(runId, [])` goes on from there (see `RunClaim`).
 */
export const RunStatus = Schema.Literals(["running", "suspended", "completed", "stopped", "failed", "interrupted"])
export type RunStatus = typeof RunStatus.Type

/**
 * Who holds a `running` run, and until when. A run whose lease has expired (its owner died or hung) can be
 * claimed again by `resume`; see `RunClaim`.
 */
export class Lease extends Schema.Class<Lease>("Lease")({
  /** Unique per claim: a process never mistakes another claim (even its own earlier one) for this one. */
  owner: Schema.String,
  /** Epoch ms. */
  expiresAt: Schema.Number
}) {}

/**
 * A call that was decided (approved, or needing no approval) and handed to its handler, but has no result
 * yet. On recovery it runs again with the same arguments and idempotency key.
 */
export class InFlightCall extends Schema.Class<InFlightCall>("InFlightCall")({
  toolCallId: Schema.String,
  toolName: Schema.String,
  arguments: Schema.Record(Schema.String, Schema.Unknown),
  /** Recomputed and compared before the call runs again: edited arguments are refused. */
  argumentsDigest: Schema.String,
  /** Its approval's call digest (see `Approval.callDigest`), recomputed before it runs again: a renamed tool is refused. */
  callDigest: Schema.optional(Schema.String),
  approval: Schema.optional(
    Schema.Struct({
      decidedBy: Schema.optionalKey(Schema.String),
      reason: Schema.optionalKey(Schema.String)
    })
  )
}) {}

export class RunState extends Schema.Class<RunState>("RunState")({
  version: Schema.Literal(CURRENT_VERSION),
  runId: Schema.String,
  /** The agent that owns the run; a run resumes only under the same agent name. */
  agent: Schema.String,
  /** The agent speaking after a handoff (absent: `agent`); a resume goes on with it (see `Handoff`). */
  currentAgent: Schema.optional(Schema.String),
  /** Handoffs taken so far in this run (absent: none). */
  handoffs: Schema.optional(Schema.Number),
  /**
   * Tool-call ids of earlier steps that a handoff's `inputFilter` dropped from `messages` (absent: none): they
   * still count as used, so a later call that repeats one gets its own keys (see `Tool.HandlerContext.idempotencyKey`).
   */
  handedOffCallIds: Schema.optional(Schema.Array(Schema.String)),
  status: RunStatus,
  messages: Schema.Array(Message),
  /** Model steps taken so far. */
  step: Schema.Number,
  /** Names of the tools called successfully in this run, in order: the tool-rule history. */
  toolHistory: Schema.Array(Schema.String),
  /** The last successful call's output, which conditional rules match on. */
  lastToolOutput: Schema.optional(Schema.String),
  /**
   * Names of the tools whose calls spend max-count budget only, in order: calls whose handler ran and failed, and
   * (after a handoff) every call made before it, which no longer move the target's rules (see `Handoff.restartRules`).
   */
  failedToolCalls: Schema.optional(Schema.Array(Schema.String)),
  /** Whether the agent's forced tool choice has been used (it then resets to `auto`). */
  toolChoiceUsed: Schema.Boolean,
  /** Tool calls of the current step that have no result yet. */
  queue: Schema.Array(ToolCall),
  /** Tools called successfully in the current step, for the step's continuation decision. */
  executedInStep: Schema.Array(Schema.String),
  pending: Schema.Array(PendingApproval),
  usage: Usage,
  outcome: Schema.optional(RunOutcome),
  /** Why the run failed, when `status` is `failed` (it can be resumed to retry). */
  error: Schema.optional(Schema.String),
  /**
   * Bumped by the store on every write; a compare-and-set write names the revision it expects. A state
   * stored before revisions existed counts as revision 1; no state at all is revision 0.
   */
  revision: Schema.optional(Schema.Number),
  /** Present while the run is `running`: who runs it, and until when (see `RunClaim`). */
  lease: Schema.optional(Lease),
  /** Calls handed to their handler without a result yet (recorded when a run is interrupted). */
  inFlight: Schema.optional(Schema.Array(InFlightCall)),
  /** Decisions accepted by a resume and not yet applied: a recovery after a crash applies them again. */
  decisions: Schema.optional(Schema.Array(ApprovalDecision))
}) {}

/** The revision of a stored state (see `RunState.revision`). */
export const revisionOf = (state: RunState): number => state.revision ?? 1

/** A stored run state that cannot be read: corrupt JSON, a missing field, or a version this library does not know. */
export class RunStateError extends Schema.TaggedError<RunStateError>()("RunStateError", {
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Cannot read the state of run ${this.runId}: ${this.reason}`
  }
}

const JsonState = Schema.fromJsonString(RunState)

export const encodeJson = (state: RunState): string => Schema.encodeSync(JsonState)(state)

/** Decodes a stored state, with a clear error naming the field and the reason. */
export const decodeJson = (runId: string, text: string): Effect.Effect<RunState, RunStateError> =>
  Effect.suspend(() => {
    let version: unknown
    try {
      version = (JSON.parse(text) as { version?: unknown } | null)?.version
    } catch (error) {
      return Effect.fail(new RunStateError({ runId, reason: `not valid JSON (${(error as Error).message})` }))
    }
    if (version !== CURRENT_VERSION) {
      return Effect.fail(
        new RunStateError({ runId, reason: `unsupported version ${JSON.stringify(version)} (this library reads version ${CURRENT_VERSION})` })
      )
    }
    return Schema.decodeUnknownEffect(JsonState)(text).pipe(
      Effect.mapError((error) => new RunStateError({ runId, reason: error.message }))
    )
  })

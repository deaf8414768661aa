/**
 * The data the server sends and receives, and its errors, as Schemas: the HTTP API (`Api`) and its OpenAPI
 * document are built from these.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** How the server sees a run: the core's statuses (`RunState.RunStatus`) as last reported by the run's events. */
export const RunStatus = Schema.Literals(["running", "suspended", "completed", "stopped", "failed", "interrupted"])
export type RunStatus = typeof RunStatus.Type

/** Run ids the server accepts (the file store's rule): no path or header tricks can ride on them. */
export const RunId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,200}$/u)).annotate({
  description: "Letters, digits, '_', '-' and '.', at most 200 characters."
})

export const AgentInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String)
})
export type AgentInfo = typeof AgentInfo.Type

export const StartRun = Schema.Struct({
  /** The user's prompt. */
  input: Schema.String.check(Schema.isMinLength(1)),
  /** Your own id for the run (default: a fresh `run_<uuid>`). */
  runId: Schema.optional(RunId)
})
export type StartRun = typeof StartRun.Type

/** A decision as a person sends it. There is no approver field: the approver is the authenticated identity. */
export const Decide = Schema.Struct({
  approved: Schema.Boolean,
  /** Shown to the model with a denial; recorded with either. */
  reason: Schema.optional(Schema.String.check(Schema.isMaxLength(2000)))
})
export type Decide = typeof Decide.Type

/** A pending approval as an operator sees it. */
export const PendingView = Schema.Struct({
  approvalId: Schema.String,
  runId: Schema.String,
  toolCallId: Schema.String,
  toolName: Schema.String,
  /** What the tool does to the world, as the agent's `risk` option says (e.g. `changes_runtime`). */
  risk: Schema.String,
  /** The agents from the run's own down to the one that asked (sub-agents, handoffs). */
  agentPath: Schema.Array(Schema.String),
  /** Redacted as audit entries are (`Redaction.args`). */
  arguments: Schema.Unknown,
  argumentsDigest: Schema.String,
  step: Schema.Number,
  /** Epoch ms. */
  requestedAt: Schema.Number,
  /** Epoch ms; absent when the approval does not expire. */
  expiresAt: Schema.optional(Schema.Number)
})
export type PendingView = typeof PendingView.Type

export const DecisionRecord = Schema.Struct({
  approvalId: Schema.String,
  toolName: Schema.String,
  approved: Schema.Boolean,
  decidedBy: Schema.String,
  reason: Schema.optional(Schema.String),
  /** Epoch ms. */
  at: Schema.Number
})
export type DecisionRecord = typeof DecisionRecord.Type

export const RunSummary = Schema.Struct({
  runId: Schema.String,
  agent: Schema.String,
  status: RunStatus,
  /** Who started it (the identity's subject). */
  startedBy: Schema.String,
  /** Epoch ms. */
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  pendingCount: Schema.Number,
  /** The id of the run's last event (for `Last-Event-ID`); 0 before the first. */
  lastEventId: Schema.Number
})
export type RunSummary = typeof RunSummary.Type

export const RunDetail = Schema.Struct({
  ...RunSummary.fields,
  pending: Schema.Array(PendingView),
  decisions: Schema.Array(DecisionRecord),
  /** The run's outcome (`RunState.RunOutcome`, redacted), once it has one. */
  outcome: Schema.optional(Schema.Unknown),
  /** Why the run failed (redacted). */
  error: Schema.optional(Schema.String),
  /** The server's clock (epoch ms), to count down expiries without trusting the client's clock. */
  serverTime: Schema.Number
})
export type RunDetail = typeof RunDetail.Type

export const RunList = Schema.Struct({ runs: Schema.Array(RunSummary) })

export const AuditEntry = Schema.Struct({
  /** Epoch ms. */
  at: Schema.Number,
  /** The event's id in the run's stream. */
  eventId: Schema.Number,
  kind: Schema.Literals(["run_started", "tool_called", "approval_requested", "approval_decided", "tool_result", "run_finished", "run_failed"]),
  agentPath: Schema.Array(Schema.String),
  tool: Schema.optional(Schema.String),
  toolCallId: Schema.optional(Schema.String),
  arguments: Schema.optional(Schema.Unknown),
  approved: Schema.optional(Schema.Boolean),
  by: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String)
})
export type AuditEntry = typeof AuditEntry.Type

export const AuditTrail = Schema.Struct({ runId: Schema.String, entries: Schema.Array(AuditEntry) })

export const DecisionAccepted = Schema.Struct({
  runId: Schema.String,
  approvalId: Schema.String,
  approved: Schema.Boolean,
  /** The authenticated identity that decided. */
  decidedBy: Schema.String
})

export const Me = Schema.Struct({
  subject: Schema.String,
  role: Schema.Literals(["viewer", "approver", "admin"]),
  /** What this identity may do: `read`, `decide`, `operate`. */
  permissions: Schema.Array(Schema.String)
})

/** One SSE frame as the server writes it: `id` is the event's number in the run (for `Last-Event-ID`). */
export const Frame = Schema.Struct({
  id: Schema.optional(Schema.String),
  event: Schema.String,
  data: Schema.String
})
export type Frame = typeof Frame.Type

// Errors: each names what was wrong, with the HTTP status it is sent with.

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  { httpApiStatus: 401 }
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String, required: Schema.String },
  { httpApiStatus: 403 }
) {}

export class AgentNotFound extends Schema.TaggedError<AgentNotFound>()("AgentNotFound", { agent: Schema.String }, { httpApiStatus: 404 }) {
  override get message(): string {
    return `No agent named "${this.agent}" is served here`
  }
}

export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", { runId: Schema.String }, { httpApiStatus: 404 }) {
  override get message(): string {
    return `No run ${this.runId} on this server`
  }
}

export class ApprovalNotFound extends Schema.TaggedError<ApprovalNotFound>()(
  "ApprovalNotFound",
  { runId: Schema.String, approvalId: Schema.String },
  { httpApiStatus: 404 }
) {
  override get message(): string {
    return `No approval ${this.approvalId} is pending in run ${this.runId}`
  }
}

/** The approval was decided already (by someone else, or by an earlier request): one decision per approval. */
export class AlreadyDecided extends Schema.TaggedError<AlreadyDecided>()(
  "AlreadyDecided",
  {
    runId: Schema.String,
    approvalId: Schema.String,
    decidedBy: Schema.optional(Schema.String),
    approved: Schema.optional(Schema.Boolean)
  },
  { httpApiStatus: 409 }
) {
  override get message(): string {
    const how = this.approved === undefined ? "decided" : this.approved ? "approved" : "denied"
    return `This approval was already ${how}${this.decidedBy === undefined ? "" : ` by ${this.decidedBy}`}; nothing more was done`
  }
}

/** The core refused the decision or the resume (stale, tampered, busy, not resumable): nothing ran. */
export class DecisionRejected extends Schema.TaggedError<DecisionRejected>()(
  "DecisionRejected",
  { runId: Schema.String, reason: Schema.String },
  { httpApiStatus: 409 }
) {
  override get message(): string {
    return `The decision for run ${this.runId} was refused: ${this.reason}`
  }
}

export class ApprovalExpired extends Schema.TaggedError<ApprovalExpired>()(
  "ApprovalExpired",
  { runId: Schema.String, approvalId: Schema.String, expiredAt: Schema.Number },
  { httpApiStatus: 410 }
) {
  override get message(): string {
    return `The approval ${this.approvalId} expired at ${new Date(this.expiredAt).toISOString()}; the call will be denied as expired`
  }
}

export class RunConflict extends Schema.TaggedError<RunConflict>()("RunConflict", { runId: Schema.String, reason: Schema.String }, { httpApiStatus: 409 }) {
  override get message(): string {
    return `Run ${this.runId}: ${this.reason}`
  }
}

/** The run could not start (the agent's backend refused it before its first event). */
export class RunFailed extends Schema.TaggedError<RunFailed>()("RunFailed", { runId: Schema.String, reason: Schema.String }, { httpApiStatus: 500 }) {
  override get message(): string {
    return `Run ${this.runId} failed to start: ${this.reason}`
  }
}

/** The AG-UI input has nothing to run: no user message and no resume entries. */
export class InvalidAgUiInput extends Schema.TaggedError<InvalidAgUiInput>()("InvalidAgUiInput", { reason: Schema.String }, { httpApiStatus: 400 }) {
  override get message(): string {
    return `Invalid AG-UI input: ${this.reason}`
  }
}

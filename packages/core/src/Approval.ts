/**
 * Human-in-the-loop approvals. A gated tool call asks the `Approvals` service for a verdict: approve, deny
 * (with a reason) or suspend. A suspended call becomes a `PendingApproval`, persisted with the run; a later
 * `ApprovalDecision` settles it. A decision is single use and quotes an unguessable approval id and the
 * call's digest (`callDigest`: the run, the tool call, the tool, its canonical arguments and, after a
 * handoff, the agent asking), so stale, duplicate, forged decisions, and decisions for another call, are
 * rejected.
 *
 * @since 0.1.0
 */
import { createHash, randomUUID } from "node:crypto"
import { Cause, Context, type Duration, Effect, Layer, Schema } from "effect"
import { canonicalJson } from "./internal/canonicalJson.js"
import { layerConstructor } from "./internal/layerConstructor.js"

export class PendingApproval extends Schema.Class<PendingApproval>("PendingApproval")({
  /** Unguessable; a decision must quote it, so decisions cannot be forged from ids seen in logs. */
  approvalId: Schema.String,
  runId: Schema.String,
  toolCallId: Schema.String,
  toolName: Schema.String,
  /** The arguments the tool will run with if approved (the model's, merged with rule prefill). */
  arguments: Schema.Unknown,
  argumentsDigest: Schema.String,
  /**
   * The digest of the whole call (`callDigest`): run id, tool-call id, tool name, canonical arguments and the
   * asking agent. A decision must quote it, and it is recomputed from the stored call before it runs, so a
   * stored call renamed to another tool is refused. Absent on approvals stored before it existed.
   */
  callDigest: Schema.optional(Schema.String),
  step: Schema.Number,
  requestedAt: Schema.Number,
  /** After this time (epoch ms) an undecided approval is denied on resume. */
  expiresAt: Schema.optional(Schema.Number),
  /** Raised inside a sub-agent run by this tool call of the run (see `SubAgent`). */
  via: Schema.optional(Schema.String),
  /** The agent that asked, when a handoff left the run with another agent than its own (see `Handoff`). */
  agent: Schema.optional(Schema.String)
}) {}

export class ApprovalDecision extends Schema.Class<ApprovalDecision>("ApprovalDecision")({
  approvalId: Schema.String,
  toolCallId: Schema.String,
  argumentsDigest: Schema.String,
  /** The pending approval's `callDigest` (copied by `approve` / `deny`): it must match, so a decision approves one tool's call only. */
  callDigest: Schema.optional(Schema.String),
  approved: Schema.Boolean,
  reason: Schema.optional(Schema.String),
  decidedBy: Schema.optional(Schema.String)
}) {}

/** Approves a pending call. */
export const approve = (
  pending: PendingApproval,
  options?: { readonly by?: string; readonly reason?: string }
): ApprovalDecision =>
  new ApprovalDecision({
    approvalId: pending.approvalId,
    toolCallId: pending.toolCallId,
    argumentsDigest: pending.argumentsDigest,
    ...(pending.callDigest === undefined ? {} : { callDigest: pending.callDigest }),
    approved: true,
    ...(options?.reason === undefined ? {} : { reason: options.reason }),
    ...(options?.by === undefined ? {} : { decidedBy: options.by })
  })

/** Denies a pending call; the model sees the reason in the tool result. */
export const deny = (
  pending: PendingApproval,
  reason: string,
  options?: { readonly by?: string }
): ApprovalDecision =>
  new ApprovalDecision({
    approvalId: pending.approvalId,
    toolCallId: pending.toolCallId,
    argumentsDigest: pending.argumentsDigest,
    ...(pending.callDigest === undefined ? {} : { callDigest: pending.callDigest }),
    approved: false,
    reason,
    ...(options?.by === undefined ? {} : { decidedBy: options.by })
  })

/** SHA-256 of the arguments' canonical JSON (object keys sorted), so key order does not change it. */
export const argumentsDigest = (args: unknown): string =>
  createHash("sha256").update(canonicalJson(args)).digest("hex")

/** What a call digest binds (see `callDigest`). */
export interface CallIdentity {
  readonly runId: string
  readonly toolCallId: string
  readonly toolName: string
  readonly arguments: unknown
  /** The agent asking, when a handoff left the run with another agent than its own (absent: the run's own). */
  readonly agent?: string | undefined
}

/**
 * SHA-256 of the call's canonical JSON: run id, tool-call id, tool name, arguments (object keys sorted) and
 * the asking agent. The one digest that ties an approval to exactly one call: a decision quotes it, and the
 * loop recomputes it from the stored call before that call runs (see `RunIntegrity.checkStoredCalls`).
 */
export const callDigest = (call: CallIdentity): string =>
  createHash("sha256")
    .update(
      canonicalJson({
        runId: call.runId,
        toolCallId: call.toolCallId,
        toolName: call.toolName,
        arguments: call.arguments,
        ...(call.agent === undefined ? {} : { agent: call.agent })
      })
    )
    .digest("hex")

export const newApprovalId = (): string => `apr_${randomUUID().replaceAll("-", "")}`

/** What the loop asks about one gated call. */
export interface ApprovalRequest {
  readonly runId: string
  readonly step: number
  readonly toolCallId: string
  readonly toolName: string
  readonly arguments: Readonly<Record<string, unknown>>
  readonly argumentsDigest: string
  /** The digest of the whole call (see `callDigest`); the local loop always sets it. */
  readonly callDigest?: string
  /** The agent asking, when a handoff left the run with another agent than its own (see `Handoff`). */
  readonly agent?: string
}

export type Verdict =
  | { readonly _tag: "Approved"; readonly by?: string; readonly reason?: string }
  | { readonly _tag: "Denied"; readonly reason: string; readonly by?: string }
  | { readonly _tag: "Suspend"; readonly expiresIn?: Duration.Input }

export const Verdict = {
  approved: (options?: { readonly by?: string; readonly reason?: string }): Verdict => ({ _tag: "Approved", ...options }),
  denied: (reason: string, options?: { readonly by?: string }): Verdict => ({ _tag: "Denied", reason, ...options }),
  suspend: (options?: { readonly expiresIn?: Duration.Input }): Verdict => ({ _tag: "Suspend", ...options })
} as const

export interface Service {
  readonly decide: (request: ApprovalRequest) => Effect.Effect<Verdict>
}

export class Approvals extends Context.Service<Approvals, Service>()("@agentloop/core/Approvals") {}

/**
 * Approves every gated call (for tests and trusted automation), as `by` (default `auto-approve`). A layer
 * and its constructor: `Approval.layerAutoApprove` or `Approval.layerAutoApprove({ by: "ci" })`.
 */
export const layerAutoApprove: Layer.Layer<Approvals> & ((options?: { readonly by?: string }) => Layer.Layer<Approvals>) = layerConstructor(
  (options?: { readonly by?: string }) =>
    Layer.succeed(Approvals, { decide: () => Effect.succeed(Verdict.approved({ by: options?.by ?? "auto-approve" })) })
)

/**
 * Denies every gated call with the given reason. A layer and its constructor: `Approval.layerDenyAll` or
 * `Approval.layerDenyAll("reason")`.
 */
export const layerDenyAll: Layer.Layer<Approvals> & ((reason?: string) => Layer.Layer<Approvals>) = layerConstructor(
  (reason?: string) =>
    Layer.succeed(Approvals, {
      decide: () => Effect.succeed(Verdict.denied(reason ?? "Tool calls that need approval are not allowed here.", { by: "deny-all" }))
    })
)

/** Decides with your own function or Effect (a policy engine, a chat prompt, a rules table). */
export const layerPolicy = <E = never, R = never>(
  policy: (request: ApprovalRequest) => Verdict | Effect.Effect<Verdict, E, R>
): Layer.Layer<Approvals, never, R> =>
  Layer.effect(
    Approvals,
    Effect.map(Effect.context<R>(), (context) => ({
      decide: (request: ApprovalRequest) => {
        const result = policy(request)
        if (!Effect.isEffect(result)) return Effect.succeed(result)
        // A policy that fails must not run the tool: a failure is a denial that names the error.
        return result.pipe(
          Effect.catchCause((cause) =>
            Effect.succeed(Verdict.denied(`Approval policy failed: ${firstLine(cause)}`, { by: "policy" }))
          ),
          Effect.provideContext(context)
        )
      }
    }))
  )

/** The first line of a cause's rendering (its first error's message, for a failure or a defect). */
const firstLine = (cause: Cause.Cause<unknown>): string => Cause.pretty(cause).split("\n")[0] ?? ""

/**
 * Suspends the run at every gated call: the run state is persisted and the stream ends with `Suspended`.
 * `expiresIn` makes undecided approvals deny themselves on resume once that time has passed. A layer and its
 * constructor: `Approval.layerSuspend` (no expiry; preferred to the equivalent `Approval.layerSuspend()`) or
 * `Approval.layerSuspend({ expiresIn: "1 day" })`.
 */
export const layerSuspend: Layer.Layer<Approvals> & ((options?: { readonly expiresIn?: Duration.Input }) => Layer.Layer<Approvals>) = layerConstructor(
  (options?: { readonly expiresIn?: Duration.Input }) =>
    Layer.succeed(Approvals, {
      decide: () => Effect.succeed(Verdict.suspend(options?.expiresIn === undefined ? undefined : { expiresIn: options.expiresIn }))
    })
)

/** A decision that does not match a pending approval of the run: stale, duplicate, forged or tampered. */
export class InvalidApprovalDecision extends Schema.TaggedError<InvalidApprovalDecision>()("InvalidApprovalDecision", {
  runId: Schema.String,
  toolCallId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid approval decision for run ${this.runId}, tool call ${this.toolCallId}: ${this.reason}`
  }
}

/**
 * A decision that arrived after its approval expired. Expiry wins: the decision is refused, nothing runs,
 * and the call ends denied as expired when the run next resumes.
 */
export class ApprovalExpired extends Schema.TaggedError<ApprovalExpired>()("ApprovalExpired", {
  runId: Schema.String,
  toolCallId: Schema.String,
  approvalId: Schema.String,
  /** Epoch ms. */
  expiredAt: Schema.Number
}) {
  override get message(): string {
    return `The approval ${this.approvalId} for run ${this.runId}, tool call ${this.toolCallId} expired at ${new Date(this.expiredAt).toISOString()}; the decision came too late`
  }
}

/**
 * Checks decisions against the pending approvals of a run. Every decision must name a pending call once,
 * with its approval id, argument digest and call digest, before the approval expires (`now`, epoch ms). Pending calls
 * without a decision stay pending.
 */
export const validateDecisions = (
  runId: string,
  pending: ReadonlyArray<PendingApproval>,
  decisions: ReadonlyArray<ApprovalDecision>,
  now: number = Date.now()
): InvalidApprovalDecision | ApprovalExpired | undefined => {
  const byCall = new Map(pending.map((p) => [p.toolCallId, p]))
  const seen = new Set<string>()
  for (const decision of decisions) {
    const fail = (reason: string) => new InvalidApprovalDecision({ runId, toolCallId: decision.toolCallId, reason })
    const match = byCall.get(decision.toolCallId)
    if (match === undefined) {
      return fail("no approval is pending for this tool call (it was already decided, or never requested)")
    }
    if (seen.has(decision.toolCallId)) return fail("the decision is given twice")
    seen.add(decision.toolCallId)
    if (decision.approvalId !== match.approvalId) return fail("the approval id does not match the pending approval")
    if (decision.argumentsDigest !== match.argumentsDigest) {
      return fail("the arguments digest does not match: the decision was made for other arguments")
    }
    // Either side quoting a call digest binds both: a stored approval stripped of its digest is refused too.
    if (decision.callDigest !== match.callDigest) {
      return fail("the call digest does not match: the decision was made for another call (tool, arguments, run or agent)")
    }
    if (match.expiresAt !== undefined && match.expiresAt <= now) {
      return new ApprovalExpired({ runId, toolCallId: match.toolCallId, approvalId: match.approvalId, expiredAt: match.expiresAt })
    }
  }
  return undefined
}

/**
 * The run's lifecycle: claim, lease, renewal, fencing, recovery. Every side effect of a run passes through
 * this module, so "nothing happens on a lease that has lapsed" holds in one place:
 *
 * - a run is claimed (a compare-and-set write under a fresh lease) before it runs: `claimNew`, `recover`;
 * - every model step, tool call (sub-agent calls included) and handoff first passes the lease gate
 *   (`leaseDue`), which renews the lease once half of it has passed; the renewal is itself a fenced write;
 * - every write is a compare-and-set against the revision this owner last wrote (`save`): an owner whose
 *   lease was taken over fails with `RunLeaseLost` and does nothing more;
 * - a run whose fiber is interrupted is stored `interrupted`, resumable (`supervised`);
 * - a stored run is resumed (or recovered after its owner died) only when it is claimable, its decisions
 *   match its pending approvals, and the calls it would run without asking match their digests (`recover`).
 *
 * @internal
 */
import { Deferred, Effect, Option } from "effect"
import * as Approval from "../../Approval.js"
import * as RunClaim from "../../RunClaim.js"
import * as RunIntegrity from "../../RunIntegrity.js"
import type { RunOutcome, RunState, RunStateError } from "../../RunState.js"
import type { RunStoreError } from "../../RunStore.js"
import * as ToolChoices from "../toolChoice.js"
import { type Context, speaking } from "./context.js"
import { fromState, type Rest, toState, type Working } from "./record.js"
import { RunAlreadyExists, RunNotFound, RunNotResumable } from "./types.js"

/** Why a write of the run failed: the store failed, or another owner wrote it since (`RunLeaseLost`). */
export type WriteError = RunStoreError | RunClaim.RunLeaseLost

/**
 * Stores the run as this owner's next revision (compare-and-set): if another owner claimed the run since
 * (this owner's lease expired), the write fails with `RunLeaseLost` and the run goes no further.
 */
export const save = (
  ctx: Context,
  w: Working,
  status: RunState["status"],
  extra?: { outcome?: RunOutcome; error?: string }
): Effect.Effect<void, WriteError> =>
  Effect.matchEffect(ctx.store.compareAndSet(toState(w, ctx.owner, status, extra), w.revision), {
    onFailure: (error) =>
      Effect.fail(
        error._tag === "RunStoreConflict"
          ? new RunClaim.RunLeaseLost({ runId: w.runId, reason: `another owner wrote the run (expected revision ${error.expected}, found ${error.actual})` })
          : error
      ),
    onSuccess: (stored) => {
      w.revision = stored.revision ?? w.revision + 1
      return Effect.void
    }
  })

/** Claims the run: stores it as `running` under a fresh lease, expecting the revision it was read at. */
const claim = (ctx: Context, w: Working) => {
  const now = Date.now()
  w.lease = RunClaim.newLease(ctx.leaseMs, now)
  w.renewAt = now + ctx.leaseMs / 2
  return ctx.store.compareAndSet(toState(w, ctx.owner, "running"), w.revision).pipe(
    Effect.map((stored) => {
      w.revision = stored.revision ?? w.revision + 1
    })
  )
}

/**
 * Claims a new run under the id it was given (which must be new: runs are never overwritten, atomically).
 * A generated id is known to nobody else yet: such a run is first stored when it suspends, ends, fails or is
 * interrupted (each a compare-and-set expecting no state), which keeps short runs at one write.
 */
export const claimNew = (ctx: Context, w: Working, given: boolean): Effect.Effect<void, RunAlreadyExists | RunStoreError> =>
  given ? Effect.catchTag(claim(ctx, w), "RunStoreConflict", () => Effect.fail(new RunAlreadyExists({ runId: w.runId }))) : Effect.void

/** Why a stored run cannot be resumed now. */
export type RecoverError =
  | RunNotFound
  | RunNotResumable
  | RunClaim.RunBusy
  | Approval.InvalidApprovalDecision
  | Approval.ApprovalExpired
  | RunIntegrity.RunStateTampered
  | RunStoreError
  | RunStateError

/**
 * Loads a stored run and claims it for a resume (or a recovery after its owner died): it must belong to the
 * runner's agent (and, after a handoff, to one it reaches), be claimable (suspended, failed, interrupted, or
 * running on a lease that has expired), its decisions must match its pending approvals, and the calls it
 * would run without asking must match their digests. Of two resumes, exactly one claims it; the other fails
 * with `RunBusy` and runs nothing. Returns the run's view (the agent speaking) and its record.
 */
export const recover = (
  owner: Context,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>
): Effect.Effect<{ readonly ctx: Context; readonly w: Working }, RecoverError> =>
  Effect.gen(function* () {
    const state = yield* owner.store.load(runId).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(new RunNotFound({ runId })), onSome: Effect.succeed }))
    )
    if (state.agent !== owner.agent.name) {
      return yield* new RunNotResumable({ runId, reason: `it belongs to agent "${state.agent}", not "${owner.agent.name}"` })
    }
    // After a handoff, the run goes on with the agent it was handed to.
    const current = state.currentAgent === undefined || state.currentAgent === owner.agent.name ? undefined : owner.agents?.get(state.currentAgent)
    if (state.currentAgent !== undefined && state.currentAgent !== owner.agent.name && current === undefined) {
      return yield* new RunNotResumable({
        runId,
        reason: `a handoff left it with agent "${state.currentAgent}", which "${owner.agent.name}" does not hand off to (directly or through other agents)`
      })
    }
    const ctx = current === undefined ? owner : speaking(owner, current)
    const now = Date.now()
    const busy = RunClaim.claimable(state, now)
    if (busy === "finished") return yield* new RunNotResumable({ runId, reason: `its status is "${state.status}"` })
    if (busy !== undefined) return yield* busy
    // Decisions stored by an earlier claim (whose owner died) are validated again with the new ones.
    const invalid = Approval.validateDecisions(runId, state.pending, [...(state.decisions ?? []), ...decisions], now)
    if (invalid !== undefined) return yield* invalid
    // Distrust the stored state: every call it would run without asking must match its digests.
    const tampered = RunIntegrity.checkStoredCalls(state)
    if (tampered !== undefined) return yield* tampered
    const w = fromState(state)
    w.choice = ToolChoices.afterResume(ctx.agent)
    for (const decision of decisions) w.decisions.set(decision.toolCallId, decision)
    // Claim the run before doing anything: of two resumes, exactly one wins; the other runs nothing.
    yield* Effect.catchTag(claim(ctx, w), "RunStoreConflict", () =>
      Effect.fail(new RunClaim.RunBusy({ runId, reason: "another resume claimed it at the same time" }))
    )
    return { ctx, w }
  })

/** Runs the claimed run; if its fiber is interrupted, stores a resumable `interrupted` state first. */
export const supervised = (ctx: Context, w: Working, rest: Rest): Rest =>
  Effect.onInterrupt(rest, () => (w.ended ? Effect.void : saveInterrupted(ctx, w)))

const saveInterrupted = (ctx: Context, w: Working) => {
  if (w.stepOpen) {
    // The model step did not finish: recovery takes it again.
    w.stepOpen = false
    w.step--
  }
  // Best effort: if the lease was lost meanwhile, the new owner's state stands.
  return Effect.ignore(save(ctx, w, "interrupted"))
}

/**
 * The lease gate: every side effect of a claimed run (a model step, a tool call, sub-agent calls included, a
 * handoff and its events) passes here first; writes are compare-and-sets besides (`save`). Until half the
 * lease has passed it costs one clock read. After that, the lease is renewed first (a compare-and-set write,
 * which also checkpoints the run), so nothing starts on a lease that has lapsed: if another owner claimed the
 * run meanwhile, the renewal fails with `RunLeaseLost` and nothing more runs. `undefined`: go on at once.
 */
export const leaseDue = (ctx: Context, w: Working): Effect.Effect<void, WriteError> | undefined =>
  w.lease === undefined || Date.now() < w.renewAt ? undefined : renewLease(ctx, w)

/** `effect`, once the lease gate lets it through. */
export const leased = <A, E>(ctx: Context, w: Working, effect: Effect.Effect<A, E>): Effect.Effect<A, E | WriteError> => {
  const due = leaseDue(ctx, w)
  return due === undefined ? effect : Effect.andThen(due, effect)
}

const renewLease = (ctx: Context, w: Working): Effect.Effect<void, WriteError> => {
  // One renewal at a time: concurrent calls wait for the one under way (`renewAt` is 0 meanwhile).
  if (w.renewing !== undefined) return Deferred.await(w.renewing)
  const renewing = Deferred.makeUnsafe<void, WriteError>()
  w.renewing = renewing
  const now = Date.now()
  w.lease = RunClaim.renew(w.lease!, ctx.leaseMs, now)
  w.renewAt = 0
  // The results a batch of calls has settled so far are part of the checkpoint: a recovery does not run them again.
  if (w.checkpoint !== undefined) w.checkpoint()
  return save(ctx, w, "running").pipe(
    Effect.onExit((exit) => {
      w.renewing = undefined
      if (exit._tag === "Success") w.renewAt = now + ctx.leaseMs / 2
      return Deferred.done(renewing, exit)
    }),
    // A write slower than the lease itself: renew again rather than start on a lease that has lapsed.
    Effect.andThen(() => (Date.now() < w.lease!.expiresAt ? Effect.void : renewLease(ctx, w)))
  )
}

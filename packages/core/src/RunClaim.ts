/**
 * Claims and leases. A run is claimed before it runs (a new run when it starts, a stored one when it
 * resumes) with one compare-and-set write to the `RunStore`; of two resumes of one run, exactly one wins and
 * the other fails with `RunBusy` and runs nothing. The claim is a lease: its owner renews it once half of it
 * has passed, before its next side effect (model step, tool call, handoff), and a run whose owner died (or
 * hung) becomes resumable once the lease expires, so no run stays `running` forever.
 *
 * Every later write of the run is a compare-and-set against the revision the owner last wrote, the renewals
 * included: an owner whose lease was taken over fails with `RunLeaseLost` and starts nothing more. The loop
 * keeps all of this in one place, `internal/loop/lifecycle.ts`.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { Context, Duration, Layer, Schema } from "effect"
import { Lease, type RunState } from "./RunState.js"

/** Another owner holds the run (its lease is live), or won the claim at the same moment. Nothing ran. */
export class RunBusy extends Schema.TaggedError<RunBusy>()("RunBusy", {
  runId: Schema.String,
  reason: Schema.String,
  /** When the current owner's lease expires (epoch ms), if known. */
  leaseExpiresAt: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `Run ${this.runId} is busy: ${this.reason}`
  }
}

/** The run was claimed by another owner while this one ran (its lease had expired); this owner stops. */
export class RunLeaseLost extends Schema.TaggedError<RunLeaseLost>()("RunLeaseLost", {
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Run ${this.runId} lost its lease: ${this.reason}`
  }
}

/**
 * How long a claim lasts without renewal. The owner renews it before a side effect once half of it has
 * passed, so a model step or tool call starts with at least half a lease left: make it at least twice the
 * longest one, since a call still running when its lease expires may be run again by a recovering owner.
 * Default: 5 minutes.
 */
export const LeaseDuration: Context.Reference<Duration.Duration> = Context.Reference<Duration.Duration>("@agentloop/core/RunClaim/LeaseDuration", {
  defaultValue: () => Duration.minutes(5)
})

/** Sets the lease duration for the runners built with it. */
export const layerLeaseDuration = (duration: Duration.Input): Layer.Layer<never> =>
  Layer.succeed(LeaseDuration, Duration.fromInputUnsafe(duration))

let processName: string | undefined

/** A fresh lease for a new claim: the owner names this host and process, plus a unique claim id. */
export const newLease = (durationMs: number, now: number = Date.now()): Lease =>
  new Lease({ owner: `${(processName ??= `${hostname()}:${process.pid}`)}:${randomUUID()}`, expiresAt: now + durationMs }, { disableChecks: true })

/** The same owner, renewed. */
export const renew = (lease: Lease, durationMs: number, now: number = Date.now()): Lease =>
  new Lease({ owner: lease.owner, expiresAt: now + durationMs }, { disableChecks: true })

/**
 * Why a stored run cannot be claimed for a resume now, or `undefined` when it can: suspended, failed and
 * interrupted runs can; a running one only once its lease has expired (a `running` state without a lease,
 * written before leases existed, counts as expired).
 */
export const claimable = (state: RunState, now: number = Date.now()): RunBusy | "finished" | undefined => {
  switch (state.status) {
    case "suspended":
    case "failed":
    case "interrupted":
      return undefined
    case "running":
      return state.lease !== undefined && state.lease.expiresAt > now
        ? new RunBusy({ runId: state.runId, reason: "another owner is running it and its lease is live", leaseExpiresAt: state.lease.expiresAt })
        : undefined
    case "completed":
    case "stopped":
      return "finished"
  }
}

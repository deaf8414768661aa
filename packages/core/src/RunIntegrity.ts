/**
 * Distrusting stored state. A run state read back from a store may have been edited: before a stored call
 * runs, its digests are recomputed and must equal the ones the approval was given for (`checkStoredCalls`);
 * and a store outside the process's trust boundary can seal every state with an HMAC (`integrityKey`),
 * checked on load, together with the run id it is read for and the highest revision known (`unseal`,
 * `checkRevision`, `sealRevision`).
 *
 * @since 0.1.0
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Redacted, Result, Schema } from "effect"
import { argumentsDigest, callDigest } from "./Approval.js"
import { canonicalJson } from "./internal/canonicalJson.js"
import { type RunState, RunStateError } from "./RunState.js"

/**
 * A stored state cannot be trusted: a pending or in-flight call does not match its digests, or names another
 * call than the one queued; or a sealed state was found under another run's id, or is older than a revision
 * already written (a rollback). Nothing runs.
 */
export class RunStateTampered extends Schema.TaggedError<RunStateTampered>()("RunStateTampered", {
  runId: Schema.String,
  /** The call whose stored record is wrong (absent when the state as a whole is: another run's, or rolled back). */
  toolCallId: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `The stored state of run ${this.runId} was changed outside this library${this.toolCallId === undefined ? "" : ` (tool call ${this.toolCallId})`}: ${this.reason}`
  }
}

/** The agent a stored call was asked under, as stored (absent: the run's own agent). */
const speakingAgent = (state: RunState, agent: string | undefined): string | undefined => (agent === state.agent ? undefined : agent)

/**
 * Checks every call the stored state would run without asking anyone again: pending approvals (a decision
 * approves their stored call) and in-flight calls. Their arguments must still hash to the stored arguments
 * digest; the call (run, id, tool, arguments, agent) must still hash to its call digest; a pending approval
 * must have been asked by the agent the run is with; and the call must be the queued one, with the same tool.
 * A sub-agent's approval (`via`) is bound to the sub-agent's run: the sub-agent checks it when it resumes.
 */
export const checkStoredCalls = (state: RunState): RunStateTampered | undefined => {
  const fail = (toolCallId: string, reason: string) => new RunStateTampered({ runId: state.runId, toolCallId, reason })
  const queued = new Map(state.queue.map((call) => [call.id, call.name]))
  const current = speakingAgent(state, state.currentAgent)
  const check = (
    call: { toolCallId: string; toolName: string; arguments: unknown; argumentsDigest: string; callDigest?: string | undefined; via?: string | undefined },
    agent: string | undefined
  ): RunStateTampered | undefined => {
    if (argumentsDigest(call.arguments) !== call.argumentsDigest) {
      return fail(call.toolCallId, "the arguments do not match their digest (they were edited after the approval was requested)")
    }
    if (call.via === undefined && call.callDigest !== undefined) {
      if (agent !== current) return fail(call.toolCallId, `the approval was asked by agent "${agent ?? state.agent}", but the run is with "${current ?? state.agent}"`)
      const recomputed = callDigest({ runId: state.runId, toolCallId: call.toolCallId, toolName: call.toolName, arguments: call.arguments, agent })
      if (recomputed !== call.callDigest) {
        return fail(call.toolCallId, "the call does not match its digest (its run, tool, arguments or agent were edited after the approval was requested)")
      }
    }
    // A sub-agent's approval belongs to the queued call of the sub-agent tool (see `SubAgent`).
    const name = queued.get(call.via ?? call.toolCallId)
    if (name === undefined) return fail(call.toolCallId, "the call is not in the queue of the step")
    if (call.via === undefined && name !== call.toolName) return fail(call.toolCallId, `the queued call is "${name}", not "${call.toolName}"`)
    return undefined
  }
  for (const pending of state.pending) {
    const tampered = check(pending, speakingAgent(state, pending.agent))
    if (tampered !== undefined) return tampered
  }
  // An in-flight call was approved under the agent the run is still with (handoffs happen after a step's calls).
  for (const call of state.inFlight ?? []) {
    const tampered = check(call, current)
    if (tampered !== undefined) return tampered
  }
  for (const decision of state.decisions ?? []) {
    const pending = state.pending.find((p) => p.toolCallId === decision.toolCallId)
    if (
      pending === undefined || pending.approvalId !== decision.approvalId || pending.argumentsDigest !== decision.argumentsDigest ||
      pending.callDigest !== decision.callDigest
    ) {
      return fail(decision.toolCallId, "a stored decision does not match a pending approval")
    }
  }
  return undefined
}

/** The key that seals stored states; keep it out of logs (it is `Redacted`). */
export type IntegrityKey = Redacted.Redacted<string>

const field = "integrity"

const mac = (key: IntegrityKey, value: unknown): string =>
  createHmac("sha256", Redacted.value(key)).update(canonicalJson(value)).digest("hex")

const sameMac = (expected: string, actual: string): boolean => {
  const a = Buffer.from(actual, "hex")
  const b = Buffer.from(expected, "hex")
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Adds an HMAC-SHA256 of the state's canonical JSON to its JSON text. The MAC covers every field, the
 * state's `runId` and `revision` included: `unseal` refuses it under another run's id, and a store that knows
 * a higher revision refuses it as a rollback (`checkRevision`).
 */
export const seal = (key: IntegrityKey, json: string): string => {
  const value = JSON.parse(json) as Record<string, unknown>
  return JSON.stringify({ ...value, [field]: mac(key, value) })
}

/**
 * Checks a sealed state's HMAC and returns its text. A missing or wrong seal (an edited state, a state
 * written without the key or with another key) is a `RunStateError`; a well-sealed state of another run
 * (a file copied over this run's) is `RunStateTampered`.
 */
export const unseal = (key: IntegrityKey, runId: string, text: string): Result.Result<string, RunStateError | RunStateTampered> => {
  let value: Record<string, unknown>
  try {
    value = JSON.parse(text) as Record<string, unknown>
  } catch (error) {
    return Result.fail(new RunStateError({ runId, reason: `not valid JSON (${(error as Error).message})` }))
  }
  const { [field]: seal, ...state } = value ?? {}
  if (typeof seal !== "string") {
    return Result.fail(new RunStateError({ runId, reason: "integrity check failed: the state has no integrity seal" }))
  }
  if (!sameMac(mac(key, state), seal)) {
    return Result.fail(
      new RunStateError({ runId, reason: "integrity check failed: the state was changed outside this library, or sealed with another key" })
    )
  }
  const owner = checkRunId(runId, state.runId)
  return owner === undefined ? Result.succeed(text) : Result.fail(owner)
}

/** A stored state must be the state of the run it was read for (a state copied over another run's is refused). */
export const checkRunId = (runId: string, stored: unknown): RunStateTampered | undefined =>
  stored === runId
    ? undefined
    : new RunStateTampered({ runId, reason: `the stored state is the state of run ${JSON.stringify(stored)}, copied over this run's` })

/**
 * A stored state older than a revision already written for the run: it was rolled back to an earlier
 * snapshot (every write raises the revision, and a sealed state cannot be edited to raise it).
 */
export const checkRevision = (runId: string, revision: number, highest: number): RunStateTampered | undefined =>
  revision >= highest
    ? undefined
    : new RunStateTampered({ runId, reason: `the stored state is revision ${revision}, but revision ${highest} was written: it was rolled back to an older snapshot` })

/** What a revision record's MAC covers: a domain of its own, so a record can never pass for a state or a state for a record. */
const revisionBody = (runId: string, revision: number) => ({ record: "agentloop/run-revision", runId, revision })

/**
 * A sealed record of the highest revision written for a run, kept beside (or away from) the state so that a
 * rollback of the state file alone is detected by every process (see `RunStore.layerFileSystem`).
 */
export const sealRevision = (key: IntegrityKey, runId: string, revision: number): string =>
  JSON.stringify({ runId, revision, [field]: mac(key, revisionBody(runId, revision)) })

/** Reads a revision record: its revision, or `RunStateTampered` when it is not a record of this run sealed with this key. */
export const readRevision = (key: IntegrityKey, runId: string, text: string): Result.Result<number, RunStateTampered> => {
  const refuse = (why: string) => Result.fail(new RunStateTampered({ runId, reason: `its revision record ${why}` }))
  let value: { runId?: unknown; revision?: unknown; [field]?: unknown }
  try {
    value = JSON.parse(text) ?? {}
  } catch {
    return refuse("is not valid JSON")
  }
  if (typeof value.revision !== "number" || typeof value[field] !== "string") return refuse("is not a sealed revision record")
  if (value.runId !== runId) return refuse(`belongs to run ${JSON.stringify(value.runId)}`)
  if (!sameMac(mac(key, revisionBody(runId, value.revision)), value[field])) {
    return refuse("was changed outside this library, or sealed with another key")
  }
  return Result.succeed(value.revision)
}

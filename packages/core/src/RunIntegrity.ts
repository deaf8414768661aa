/**
 * Distrusting stored state. A run state read back from a store may have been edited: before a stored call
 * runs, its argument digest is recomputed and must equal the digest the approval was given for; and a store
 * outside the process's trust boundary can seal every state with an HMAC (`integrityKey`), checked on load.
 *
 * @since 0.1.0
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Redacted, Result, Schema } from "effect"
import { argumentsDigest } from "./Approval.js"
import { canonicalJson } from "./internal/canonicalJson.js"
import { type RunState, RunStateError } from "./RunState.js"

/**
 * A stored state contradicts itself: a pending or in-flight call's arguments do not match their digest, or
 * the call it names is not the one queued. Nothing runs.
 */
export class RunStateTampered extends Schema.TaggedError<RunStateTampered>()("RunStateTampered", {
  runId: Schema.String,
  toolCallId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `The stored state of run ${this.runId} was changed outside this library (tool call ${this.toolCallId}): ${this.reason}`
  }
}

/**
 * Checks every call the stored state would run without asking anyone again: pending approvals (a decision
 * approves their stored arguments) and in-flight calls. Their arguments must still hash to the stored
 * digest, and the call they name must be the queued one, with the same tool.
 */
export const checkStoredCalls = (state: RunState): RunStateTampered | undefined => {
  const fail = (toolCallId: string, reason: string) => new RunStateTampered({ runId: state.runId, toolCallId, reason })
  const queued = new Map(state.queue.map((call) => [call.id, call.name]))
  const calls: ReadonlyArray<{ toolCallId: string; toolName: string; arguments: unknown; argumentsDigest: string; via?: string | undefined }> = [
    ...state.pending,
    ...(state.inFlight ?? [])
  ]
  for (const call of calls) {
    if (argumentsDigest(call.arguments) !== call.argumentsDigest) {
      return fail(call.toolCallId, "the arguments do not match their digest (they were edited after the approval was requested)")
    }
    // A sub-agent's approval belongs to the queued call of the sub-agent tool (see `SubAgent`); the
    // sub-agent checks its own stored call when it resumes.
    const name = queued.get(call.via ?? call.toolCallId)
    if (name === undefined) return fail(call.toolCallId, "the call is not in the queue of the step")
    if (call.via === undefined && name !== call.toolName) return fail(call.toolCallId, `the queued call is "${name}", not "${call.toolName}"`)
  }
  for (const decision of state.decisions ?? []) {
    const pending = state.pending.find((p) => p.toolCallId === decision.toolCallId)
    if (pending === undefined || pending.approvalId !== decision.approvalId || pending.argumentsDigest !== decision.argumentsDigest) {
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

/** Adds an HMAC-SHA256 of the state's canonical JSON to its JSON text. */
export const seal = (key: IntegrityKey, json: string): string => {
  const value = JSON.parse(json) as Record<string, unknown>
  return JSON.stringify({ ...value, [field]: mac(key, value) })
}

/**
 * Checks a sealed state's HMAC and returns its text. A missing or wrong seal (an edited state, a state
 * written without the key or with another key) is a `RunStateError`.
 */
export const unseal = (key: IntegrityKey, runId: string, text: string): Result.Result<string, RunStateError> => {
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
  const expected = Buffer.from(mac(key, state), "hex")
  const actual = Buffer.from(seal, "hex")
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return Result.fail(
      new RunStateError({ runId, reason: "integrity check failed: the state was changed outside this library, or sealed with another key" })
    )
  }
  return Result.succeed(text)
}

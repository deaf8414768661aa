/**
 * Approvals raised inside a sub-agent run, as approvals of the calling run (see `SubAgent`). A nested
 * approval's tool-call id is the calling call's id, `/`, and the sub-agent's own id, so ids never collide
 * with the calling run's; `via` names the calling call.
 */
import { ApprovalDecision, PendingApproval } from "../Approval.js"

/** The sub-agent's pending approvals, lifted into the calling run. */
export const lift = (runId: string, step: number, callId: string, pending: ReadonlyArray<PendingApproval>): Array<PendingApproval> =>
  pending.map((p) => new PendingApproval({ ...p, runId, step, toolCallId: `${callId}/${p.toolCallId}`, via: callId }))

/** A decision on a lifted approval, in the sub-agent's terms. */
export const lower = (callId: string, decision: ApprovalDecision): ApprovalDecision =>
  new ApprovalDecision({ ...decision, toolCallId: decision.toolCallId.slice(callId.length + 1) })

/** Nested approvals raised by the call, or undefined when there are none. */
export const raisedBy = (pending: ReadonlyArray<PendingApproval>, callId: string): ReadonlyArray<PendingApproval> | undefined => {
  const nested = pending.filter((p) => p.via === callId)
  return nested.length === 0 ? undefined : nested
}

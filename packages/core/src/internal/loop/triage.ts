/**
 * Call triage, pure: what to do with one queued call, given the bound agent and the run as it stands. Tool
 * rules and tool choice come first, then argument checks, then approvals, so an approval never lets a
 * forbidden or malformed call through and nobody is asked about a call that would be rejected anyway. Nothing
 * here writes the run or reports an event: `calls.ts` applies what these functions decide.
 *
 * @internal
 */
import { Duration, Result } from "effect"
import * as Approval from "../../Approval.js"
import * as Handoff from "../../Handoff.js"
import type { ToolChoice } from "../../LanguageModel.js"
import type * as Message from "../../Message.js"
import type { InFlightCall } from "../../RunState.js"
import * as Toolkit from "../../Toolkit.js"
import * as Solver from "../../ToolRuleSolver.js"
import * as Nested from "../nested.js"
import * as ToolChoices from "../toolChoice.js"
import type { Bound } from "./context.js"

/** How a call was approved, as its handler is told (`HandlerContext.approval`). */
export interface Approved {
  readonly decidedBy?: string
  readonly reason?: string
}

/** What to do with one queued call. */
export type Disposition =
  | {
      readonly _tag: "Result"
      readonly execution: Toolkit.Execution
      /** The call passed the rules and was announced (`ToolCalled`) before its arguments failed their schema. */
      readonly called?: { readonly args: Record<string, unknown>; readonly prefilledBy?: string | undefined }
    }
  | {
      readonly _tag: "Execute"
      readonly args: Record<string, unknown>
      readonly approval?: Approved
      /** Decisions for a sub-agent call's nested approvals, in the sub-agent's terms. */
      readonly nested?: ReadonlyArray<Approval.ApprovalDecision>
      /** The rule whose prefill merged into the arguments. */
      readonly prefilledBy?: string
    }
  | { readonly _tag: "Pending" }
  /** A decision on a provider's approval request: answered with an ApprovalMessage, never executed here. */
  | { readonly _tag: "Decision"; readonly approved: boolean; readonly reason?: string }

export type Execute = Extract<Disposition, { _tag: "Execute" }>

/** `Approvals` must be asked before the call's disposition is known; `onApproved` is what approval leads to. */
export interface Ask {
  readonly _tag: "Ask"
  readonly request: Approval.ApprovalRequest
  readonly onApproved: Extract<Disposition, { _tag: "Execute" | "Decision" }>
  readonly prefilledBy?: string
}

/** The part of the run triage reads (a `Working` record is one). */
export interface View {
  readonly runId: string
  readonly step: number
  /** The agent speaking after a handoff, when it is not the run's own. */
  readonly agent: string | undefined
  readonly pending: ReadonlyArray<Approval.PendingApproval>
  readonly decisions: ReadonlyMap<string, Approval.ApprovalDecision>
  readonly inFlight: ReadonlyMap<string, InFlightCall> | undefined
  readonly solver: Solver.State
  /** The tool choice of the current step. */
  readonly choice: ToolChoice
  readonly messages: ReadonlyArray<Message.Message>
}

/** What triage reads of the bound agent. */
export type Agent = Pick<Bound, "toolkit" | "names" | "routes" | "compiled">

const result = (execution: Toolkit.Execution): Disposition => ({ _tag: "Result", execution })

/** The result of a call whose approval was denied (or expired). */
export const denial = (reason: string | undefined): Toolkit.Execution =>
  Toolkit.errorResult("Denied", `Error: request to call tool denied. User reason: ${reason ?? "none given"}`)

export const approvalInfo = (decidedBy: string | undefined, reason: string | undefined): Approved => ({
  ...(decidedBy === undefined ? {} : { decidedBy }),
  ...(reason === undefined ? {} : { reason })
})

/** An approved call cut off by an interruption runs again as approved (its digests were checked on resume). */
export const rerun = (call: InFlightCall): Execute => ({
  _tag: "Execute",
  args: call.arguments as Record<string, unknown>,
  ...(call.approval === undefined ? {} : { approval: call.approval })
})

/** What `Approvals` is asked about a call: bound to the run, the call, the tool and its arguments by one digest. */
export const approvalRequest = (view: View, call: Message.ToolCall, args: Record<string, unknown>): Approval.ApprovalRequest => ({
  runId: view.runId,
  step: view.step,
  toolCallId: call.id,
  toolName: call.name,
  arguments: args,
  argumentsDigest: Approval.argumentsDigest(args),
  callDigest: Approval.callDigest({ runId: view.runId, toolCallId: call.id, toolName: call.name, arguments: args, agent: view.agent }),
  ...(view.agent === undefined ? {} : { agent: view.agent })
})

/**
 * One of our own tools' calls, not waiting for anything: refused (unknown tool, a handoff after the step's
 * first, bad JSON, a rule, the step's tool choice), run, or asked about. Rules may prefill arguments; a gated
 * call's arguments are decoded first, so a human is never asked about a call its schema would refuse.
 */
export const judge = (agent: Agent, view: View, call: Message.ToolCall): Disposition | Ask => {
  const tool = agent.toolkit.tools.get(call.name)
  if (tool === undefined) return result(Toolkit.unknownTool(call.name, agent.names))
  if (agent.routes !== undefined && agent.routes.has(call.name)) {
    const ignored = Handoff.superseded(agent.routes, view.messages, call.id)
    if (ignored !== undefined) return result(ignored)
  }
  const parsed = Toolkit.parseArguments(call.name, call.arguments)
  if (Result.isFailure(parsed)) return result(parsed.failure)
  // Without rules every tool is allowed and nothing is prefilled: skip planning.
  const plan = agent.compiled.rules.length === 0 ? undefined : Solver.plan(agent.compiled, agent.names, view.solver)
  const violation = plan === undefined ? undefined : Solver.violation(agent.compiled, plan, call.name, view.solver)
  if (violation !== undefined) return result(Toolkit.errorResult("RuleViolation", violation))
  const refused = view.choice === "auto" ? undefined : ToolChoices.refusal(view.choice, call.name)
  if (refused !== undefined) return result(refused)
  const prefill = plan?.prefill.get(call.name)
  const args = prefill === undefined ? parsed.success : { ...parsed.success, ...prefill.args }
  const gated = agent.compiled.requiresApproval.has(call.name) || tool.requiresApproval !== false
  const execute: Execute = prefill === undefined ? { _tag: "Execute", args } : { _tag: "Execute", args, prefilledBy: prefill.source }
  if (!gated) return execute
  // Never ask a human about a call that would be rejected anyway.
  const decoded = Toolkit.decodeArguments(tool, args)
  if (Result.isFailure(decoded)) {
    return { _tag: "Result", execution: decoded.failure, called: { args, ...(prefill === undefined ? {} : { prefilledBy: prefill.source }) } }
  }
  if (typeof tool.requiresApproval === "function" && !agent.compiled.requiresApproval.has(call.name)) {
    if (!tool.requiresApproval(decoded.success as never)) return execute
  }
  const ask: Ask = { _tag: "Ask", request: approvalRequest(view, call, args), onApproved: { _tag: "Execute", args } }
  return prefill === undefined ? ask : { ...ask, prefilledBy: prefill.source }
}

/**
 * A provider asks to run its own tool. The rules still apply (a forbidden call is denied without asking
 * anyone: `violation`); otherwise `Approvals` decides, exactly as for our own tools.
 */
export const judgeRemote = (
  agent: Agent,
  view: View,
  call: Message.ToolCall
): { readonly args: Record<string, unknown>; readonly ruling: Ask | { readonly _tag: "Decision"; readonly approved: false; readonly reason: string } } => {
  const args = Result.getOrElse(Toolkit.parseArguments(call.name, call.arguments), () => ({}) as Record<string, unknown>)
  const plan = Solver.plan(agent.compiled, [...agent.names, call.name], view.solver)
  const violation = Solver.violation(agent.compiled, plan, call.name, view.solver)
  return {
    args,
    ruling:
      violation !== undefined
        ? { _tag: "Decision", approved: false, reason: violation }
        : { _tag: "Ask", request: approvalRequest(view, call, args), onApproved: { _tag: "Decision", approved: true } }
  }
}

/** A waiting approval, settled: by its decision, or denied once it expired. It leaves `pending`. */
export interface Settled {
  readonly _tag: "Settled"
  readonly waiting: Approval.PendingApproval
  /** The decision consumed (undefined: the approval expired). */
  readonly decision: Approval.ApprovalDecision | undefined
  readonly approved: boolean
  readonly reason: string | undefined
  readonly by: string | undefined
  /** What the call gets: executed (approved, ours), a denial result, or a decision (a provider's request). */
  readonly then: Disposition
}

const expiredReason = "the approval expired before anyone decided"

/** A call waiting for approval: settled by the decision given to `resume`, denied once expired, or still pending. */
export const settlePending = (view: View, waiting: Approval.PendingApproval, remote: boolean, now: number): Settled | { readonly _tag: "Pending" } => {
  const decision = view.decisions.get(waiting.toolCallId)
  if (decision === undefined) {
    if (waiting.expiresAt === undefined || waiting.expiresAt > now) return { _tag: "Pending" }
    const then: Disposition = remote ? { _tag: "Decision", approved: false, reason: expiredReason } : result(denial(expiredReason))
    return { _tag: "Settled", waiting, decision, approved: false, reason: expiredReason, by: "expiry", then }
  }
  const settled = { _tag: "Settled", waiting, decision, approved: decision.approved, reason: decision.reason, by: decision.decidedBy } as const
  if (remote) {
    return { ...settled, then: { _tag: "Decision", approved: decision.approved, ...(decision.reason === undefined ? {} : { reason: decision.reason }) } }
  }
  if (!decision.approved) return { ...settled, then: result(denial(decision.reason)) }
  return { ...settled, then: { _tag: "Execute", args: waiting.arguments as Record<string, unknown>, approval: approvalInfo(decision.decidedBy, decision.reason) } }
}

/** A sub-agent call's nested approvals, some decided: the call runs again with the decisions (in the sub-agent's terms). */
export interface NestedSettled {
  readonly _tag: "NestedSettled"
  /** The approvals decided now, with their decisions (consumed). All of the call's nested approvals leave `pending`. */
  readonly decided: ReadonlyArray<readonly [Approval.PendingApproval, Approval.ApprovalDecision]>
  readonly then: Execute
}

/**
 * A sub-agent call with nested approvals: once any is decided (or expired), the call runs again with the
 * decisions (the sub-agent resumes and reports what is still pending); until then it waits.
 */
export const settleNested = (
  view: View,
  call: Message.ToolCall,
  nested: ReadonlyArray<Approval.PendingApproval>,
  now: number
): NestedSettled | { readonly _tag: "Pending" } => {
  const due = nested.filter((p) => view.decisions.has(p.toolCallId) || (p.expiresAt !== undefined && p.expiresAt <= now))
  if (due.length === 0) return { _tag: "Pending" }
  const decided: Array<readonly [Approval.PendingApproval, Approval.ApprovalDecision]> = []
  for (const p of due) {
    const decision = view.decisions.get(p.toolCallId)
    if (decision !== undefined) decided.push([p, decision])
  }
  const args = Result.getOrElse(Toolkit.parseArguments(call.name, call.arguments), () => ({}) as Record<string, unknown>)
  return { _tag: "NestedSettled", decided, then: { _tag: "Execute", args, nested: decided.map(([, decision]) => Nested.lower(call.id, decision)) } }
}

/** What an approval or a denial from `Approvals` leads to (a `Suspend` becomes a pending approval: `pendingOf`). */
export const afterVerdict = (ask: Ask, verdict: Exclude<Approval.Verdict, { _tag: "Suspend" }>): Disposition => {
  const { onApproved } = ask
  if (verdict._tag === "Approved") {
    return onApproved._tag === "Execute" ? { ...onApproved, approval: approvalInfo(verdict.by, verdict.reason) } : onApproved
  }
  return onApproved._tag === "Execute" ? result(denial(verdict.reason)) : { _tag: "Decision", approved: false, reason: verdict.reason }
}

/** The pending approval a `Suspend` verdict makes of a request (its expiry counted from `now`). */
export const pendingOf = (request: Approval.ApprovalRequest, verdict: Extract<Approval.Verdict, { _tag: "Suspend" }>, approvalId: string, now: number) =>
  new Approval.PendingApproval({
    approvalId,
    ...request,
    requestedAt: now,
    ...(verdict.expiresIn === undefined ? {} : { expiresAt: now + Math.max(0, Duration.toMillis(verdict.expiresIn)) })
  })

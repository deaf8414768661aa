/**
 * A step's tool calls, settled: each gets exactly one result (executed, rejected or denied), unless it waits
 * for an approval, and then the run suspends. Triage decides (`triage.ts`, pure); this module applies what it
 * decided (pending approvals consumed, decisions reported, approved calls remembered as in flight), asks
 * `Approvals`, and runs the calls, each through the lease gate (`lifecycle.ts`). With ordering rules, calls go
 * one at a time (the next call's validity depends on this one's output) and processing stops at the first
 * pending approval; otherwise every call is triaged first and the executable ones run concurrently.
 *
 * @internal
 */
import { Cause, Effect } from "effect"
import * as Approval from "../../Approval.js"
import * as Message from "../../Message.js"
import { InFlightCall } from "../../RunState.js"
import * as Toolkit from "../../Toolkit.js"
import * as Nested from "../nested.js"
import { CallContext } from "./callContext.js"
import type { Context } from "./context.js"
import { leased, type WriteError } from "./lifecycle.js"
import { recordTool, type Rest, type Working } from "./record.js"
import * as Triage from "./triage.js"

/** How a step's calls ended: every call has its result (`Settled`), or some wait for an approval (`Pending`). */
export type Settlement = "Settled" | "Pending"

/** What the run does once the calls are settled (a function of the module that drives the run: no closure per step). */
export type Next = (ctx: Context, w: Working, settlement: Settlement) => Rest

/** Gives every queued call its result, unless some wait for approval, and goes on with `next`. */
export const processQueue = (ctx: Context, w: Working, next: Next): Rest =>
  w.queue.length === 1
    ? processSingle(ctx, w, w.queue[0]!, next)
    : Effect.flatMap(processMany(ctx, w), (suspended) => next(ctx, w, suspended ? "Pending" : "Settled"))

/** The common case: one call, no concurrency to arrange. */
const processSingle = (ctx: Context, w: Working, call: Message.ToolCall, next: Next): Rest => {
  const disposition = dispose(ctx, w, call)
  return disposition._tag === "Ask"
    ? Effect.flatMap(decideApproval(ctx, w, call, disposition), (decided) => settleSingle(ctx, w, call, decided, next))
    : settleSingle(ctx, w, call, disposition, next)
}

const settleSingle = (ctx: Context, w: Working, call: Message.ToolCall, d: Triage.Disposition, next: Next): Rest => {
  switch (d._tag) {
    case "Pending":
      return next(ctx, w, "Pending")
    case "Execute":
      return runTool(ctx, w, call, d, (execution) => {
        if (!complete(ctx, w, call, execution, true)) return next(ctx, w, "Pending")
        w.queue = []
        return next(ctx, w, "Settled")
      })
    case "Decision":
    case "Result":
      recordSettled(ctx, w, call, d)
      w.queue = []
      return next(ctx, w, "Settled")
  }
}

/** Several calls: returns true when the run must suspend. */
const processMany = (ctx: Context, w: Working): Effect.Effect<boolean, WriteError> => {
  // What is known so far, so that an interruption keeps every result already settled (see `Batch.keep`).
  const batch = new Batch(ctx, w, w.queue, ctx.compiled.ordered)
  const { calls, dispositions, executions } = batch
  const body = Effect.gen(function* () {
    if (batch.ordered) {
      while (w.queue.length > 0) {
        const call = w.queue[0]!
        const disposition = yield* decided(ctx, w, call)
        if (disposition._tag === "Pending") return true
        dispositions[calls.length - w.queue.length] = disposition
        yield* settle(ctx, w, call, disposition)
        // A sub-agent call that suspended stays queued, like a call waiting for approval.
        if (w.pending.some((p) => p.via === call.id)) return true
        dispositions[calls.length - w.queue.length] = undefined
        w.queue.shift()
      }
      return false
    }
    for (const call of calls) dispositions.push(yield* decided(ctx, w, call))
    const executable = dispositions.reduce((n, d) => (d!._tag === "Execute" ? n + 1 : n), 0)
    // Concurrency has a cost of its own: use it only when two or more calls can actually overlap.
    const sequential = executable < 2 || calls.some((call) => ctx.toolkit.tools.get(call.name)?.parallel === false)
    // A lease renewal during the batch stores the results settled by then (in call order).
    w.checkpoint = () => batch.flush(false)
    yield* Effect.forEach(
      calls,
      (call, i) => {
        const d = dispositions[i]!
        return d._tag === "Execute"
          ? runTool(ctx, w, call, d, (execution) => Effect.sync(() => void (executions[i] = execution)))
          : Effect.void
      },
      sequential ? { discard: true } : { concurrency: ctx.agent.toolConcurrency, discard: true }
    )
    w.checkpoint = undefined
    batch.flush(true)
    return w.queue.length > 0
  })
  return Effect.onExit(body, (exit) =>
    Effect.sync(() => {
      w.checkpoint = undefined
      if (exit._tag === "Failure" && Cause.hasInterrupts(exit.cause)) batch.keep()
    })
  )
}

/**
 * The calls of one step, their dispositions and executions as they become known. Results are recorded in call
 * order: all at once when the batch ends (`flush(true)`), the settled prefix when a lease renewal checkpoints
 * the run mid-batch (`flush(false)`), and every settled one when the step is interrupted (`keep`).
 */
class Batch {
  readonly dispositions: Array<Triage.Disposition | undefined> = []
  readonly executions: Array<Toolkit.Execution | undefined> = []
  /** Calls recorded so far (unordered batches). */
  flushed = 0
  /** Calls before `flushed` still without a result (waiting for approval, or a sub-agent's). */
  readonly held: Array<Message.ToolCall> = []
  constructor(
    readonly ctx: Context,
    readonly w: Working,
    readonly calls: ReadonlyArray<Message.ToolCall>,
    readonly ordered: boolean
  ) {}

  /** Records results in call order, up to the first call still running (`all`: every call has its disposition and execution). */
  flush(all: boolean) {
    const { calls, ctx, w } = this
    let i = this.flushed
    for (; i < calls.length; i++) {
      const call = calls[i]!
      const d = this.dispositions[i]
      if (d === undefined) break
      if (d._tag === "Pending") this.held.push(call)
      else if (d._tag === "Execute") {
        const execution = this.executions[i]
        if (execution === undefined && !all) break
        if (!complete(ctx, w, call, execution!, true)) this.held.push(call)
      } else recordSettled(ctx, w, call, d)
    }
    this.flushed = i
    w.queue = i === calls.length ? this.held : [...this.held, ...calls.slice(i)]
  }

  /**
   * The step was interrupted: record the results already settled (in call order), and keep in the queue the
   * calls still without one (pending, in flight, or not yet looked at). Nothing settled is lost or run again.
   */
  keep() {
    const { calls, ctx, w } = this
    const unsettled: Array<Message.ToolCall> = [...this.held]
    for (let i = this.ordered ? calls.length - w.queue.length : this.flushed; i < calls.length; i++) {
      const call = calls[i]!
      const d = this.dispositions[i]
      if (d === undefined || d._tag === "Pending") unsettled.push(call)
      else if (d._tag === "Execute") {
        const execution = this.executions[i]
        if (execution === undefined || !complete(ctx, w, call, execution, true)) unsettled.push(call)
      } else recordSettled(ctx, w, call, d)
    }
    w.queue = unsettled
  }
}

/** A call's disposition, asking `Approvals` when needed. */
const decided = (ctx: Context, w: Working, call: Message.ToolCall): Effect.Effect<Triage.Disposition> => {
  const disposition = dispose(ctx, w, call)
  return disposition._tag === "Ask" ? decideApproval(ctx, w, call, disposition) : Effect.succeed(disposition)
}

const settle = (ctx: Context, w: Working, call: Message.ToolCall, d: Exclude<Triage.Disposition, { _tag: "Pending" }>) =>
  d._tag === "Execute"
    ? runTool(ctx, w, call, d, (execution) => Effect.sync(() => complete(ctx, w, call, execution, true)))
    : Effect.sync(() => recordSettled(ctx, w, call, d))

/** Records a call that needed no execution: a decision on a provider's request, or a result given without running. */
const recordSettled = (ctx: Context, w: Working, call: Message.ToolCall, d: Extract<Triage.Disposition, { _tag: "Decision" | "Result" }>) =>
  d._tag === "Decision" ? answer(w, call, d) : complete(ctx, w, call, d.execution, false)

/** Answers a provider's approval request; the provider reports the call's result in a later step. */
const answer = (w: Working, call: Message.ToolCall, d: Extract<Triage.Disposition, { _tag: "Decision" }>) => {
  w.messages.push({
    _tag: "ApprovalMessage",
    toolCallId: call.id,
    toolName: call.name,
    approved: d.approved,
    ...(d.reason === undefined ? {} : { reason: d.reason })
  })
}

/** Executes a call, once the lease gate lets it through, and continues with its result (through the durability hooks, if any). */
const runTool = <A, E>(
  ctx: Context,
  w: Working,
  call: Message.ToolCall,
  d: Triage.Execute,
  then: (execution: Toolkit.Execution) => Effect.Effect<A, E>
): Effect.Effect<A, E | WriteError> => {
  const target = { name: call.name, args: d.args }
  const handlerContext = new CallContext(
    w,
    call.id,
    // One hook per run (not a closure per call): only sub-agent tools use it.
    (w.suspendHook ??= (toolCallId, pending) => void (w.suspensions ??= new Map()).set(toolCallId, pending)),
    d.nested,
    // Only a consumer of this run's events gets a sub-agent's (an observer sees the sub-agent's run itself).
    ctx.onEvent === undefined ? undefined : { step: w.step, emit: ctx.onEvent, ready: ctx.ready }
  )
  if (d.approval !== undefined) handlerContext.approval = d.approval
  return leased(
    ctx,
    w,
    ctx.stepRunner === undefined
      ? Toolkit.executeThen(ctx.toolkit, target, handlerContext, then)
      : Effect.flatMap(ctx.stepRunner.toolCall(w.step, call.id, Toolkit.execute(ctx.toolkit, target, handlerContext)), then)
  )
}

/**
 * Records a call's result. Only calls that succeeded count in the rule history (and may end the run through a
 * terminal rule); a call whose handler ran and failed spends max-count budget; nothing else counts.
 */
const complete = (ctx: Context, w: Working, call: Message.ToolCall, execution: Toolkit.Execution, executed: boolean): boolean => {
  if (executed && w.suspensions !== undefined && w.suspensions.has(call.id)) {
    raiseNested(ctx, w, call)
    return false
  }
  w.messages.push(
    Message.toolResult({ toolCallId: call.id, toolName: call.name, content: execution.content, isError: execution.isError })
  )
  if (ctx.observed) {
    ctx.emit({
      _tag: "ToolResult",
      runId: w.runId,
      step: w.step,
      toolCallId: call.id,
      toolName: call.name,
      content: execution.content,
      isError: execution.isError,
      ...(execution.errorKind === undefined ? {} : { errorKind: execution.errorKind })
    })
  }
  if (executed) {
    if (Toolkit.handlerRan(execution)) {
      recordTool(w, call.name, execution.output, execution.isError)
      if (!execution.isError) w.executedInStep.push(call.name)
    }
    if (w.inFlight !== undefined) w.inFlight.delete(call.id)
  }
  return true
}

/** A sub-agent call suspended: its approvals become the run's (the call stays unsettled until they are decided). */
const raiseNested = (ctx: Context, w: Working, call: Message.ToolCall) => {
  const lifted = Nested.lift(w.runId, w.step, call.id, w.suspensions!.get(call.id)!)
  w.suspensions!.delete(call.id)
  if (w.inFlight !== undefined) w.inFlight.delete(call.id)
  for (const pending of lifted) {
    w.pending.push(pending)
    ctx.emit({ _tag: "ApprovalRequested", runId: w.runId, step: w.step, approval: pending })
  }
}

/** Triages one call (`Triage`) and applies what that decided; only a question to `Approvals` is left for an Effect. */
const dispose = (ctx: Context, w: Working, call: Message.ToolCall): Triage.Disposition | Triage.Ask => {
  const inFlight = w.inFlight === undefined ? undefined : w.inFlight.get(call.id)
  if (inFlight !== undefined) return Triage.rerun(inFlight)
  if (w.pending.length > 0) {
    const nested = Nested.raisedBy(w.pending, call.id)
    if (nested !== undefined) {
      const settled = Triage.settleNested(w, call, nested, Date.now())
      if (settled._tag === "Pending") return settled
      for (const [p, decision] of settled.decided) {
        w.decisions.delete(p.toolCallId)
        emitDecision(ctx, w, { id: p.toolCallId, name: p.toolName }, p.arguments, decision.approved, decision.reason, decision.decidedBy)
      }
      // All of the call's nested approvals leave the run: the sub-agent reports again those still undecided.
      w.pending = w.pending.filter((p) => p.via !== call.id)
      return settled.then
    }
    const waiting = w.pending.find((p) => p.toolCallId === call.id)
    if (waiting !== undefined) {
      const settled = Triage.settlePending(w, waiting, call.remote === true, Date.now())
      return settled._tag === "Pending" ? settled : applySettled(ctx, w, settled)
    }
  }
  if (call.remote === true) {
    const { args, ruling } = Triage.judgeRemote(ctx, w, call)
    ctx.emit({ _tag: "ToolCalled", runId: w.runId, step: w.step, toolCallId: call.id, toolName: call.name, arguments: args, remote: true })
    if (ruling._tag === "Decision") emitDecision(ctx, w, call, args, false, ruling.reason, "tool-rules")
    return ruling
  }
  const judged = Triage.judge(ctx, w, call)
  if (ctx.observed) {
    // Announced once past the rules and the tool choice, whatever comes of it then.
    const called =
      judged._tag === "Execute"
        ? judged
        : judged._tag === "Ask"
          ? { args: judged.request.arguments, prefilledBy: judged.prefilledBy }
          : judged._tag === "Result"
            ? judged.called
            : undefined
    if (called !== undefined) {
      ctx.emit({
        _tag: "ToolCalled",
        runId: w.runId,
        step: w.step,
        toolCallId: call.id,
        toolName: call.name,
        arguments: called.args,
        ...(called.prefilledBy === undefined ? {} : { prefilledBy: called.prefilledBy })
      })
    }
  }
  return judged
}

/** A waiting approval settled: it leaves `pending`, its decision is consumed and reported; an approved call of ours is in flight until its result is recorded. */
const applySettled = (ctx: Context, w: Working, settled: Triage.Settled): Triage.Disposition => {
  const { waiting } = settled
  w.pending = w.pending.filter((p) => p !== waiting)
  w.decisions.delete(waiting.toolCallId)
  emitDecision(ctx, w, { id: waiting.toolCallId, name: waiting.toolName }, waiting.arguments, settled.approved, settled.reason, settled.by)
  const then = settled.then
  if (then._tag === "Execute") {
    w.inFlight ??= new Map()
    w.inFlight.set(
      waiting.toolCallId,
      new InFlightCall(
        {
          toolCallId: waiting.toolCallId,
          toolName: waiting.toolName,
          arguments: then.args,
          argumentsDigest: waiting.argumentsDigest,
          ...(waiting.callDigest === undefined ? {} : { callDigest: waiting.callDigest }),
          ...(then.approval === undefined ? {} : { approval: then.approval })
        },
        { disableChecks: true }
      )
    )
  }
  return then
}

/** Asks `Approvals` about one call; a suspension makes it a pending approval of the run. */
const decideApproval = (ctx: Context, w: Working, call: Message.ToolCall, ask: Triage.Ask): Effect.Effect<Triage.Disposition> =>
  Effect.map(ctx.approvals.decide(ask.request), (verdict): Triage.Disposition => {
    if (verdict._tag !== "Suspend") {
      emitDecision(ctx, w, call, ask.request.arguments, verdict._tag === "Approved", verdict.reason, verdict.by)
      return Triage.afterVerdict(ask, verdict)
    }
    const pending = Triage.pendingOf(ask.request, verdict, Approval.newApprovalId(), Date.now())
    w.pending.push(pending)
    ctx.emit({ _tag: "ApprovalRequested", runId: w.runId, step: w.step, approval: pending })
    return { _tag: "Pending" }
  })

const emitDecision = (
  ctx: Context,
  w: Working,
  call: { readonly id: string; readonly name: string },
  args: unknown,
  approved: boolean,
  reason: string | undefined,
  by: string | undefined
) =>
  ctx.emit({
    _tag: "ApprovalDecided",
    runId: w.runId,
    step: w.step,
    toolCallId: call.id,
    toolName: call.name,
    arguments: args,
    approved,
    ...(reason === undefined ? {} : { reason }),
    ...(by === undefined ? {} : { decidedBy: by })
  })

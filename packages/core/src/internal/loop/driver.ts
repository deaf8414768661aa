/**
 * The step machine's driver: one function per state of `machine.ts`, each ending by taking one of the
 * table's edges (`to.Tools(on.Model.Calls, ctx, w)`), so the run goes nowhere the table does not say.
 *
 * It is written as continuations rather than as a generator: each model step and each tool execution is one
 * Effect, and the bookkeeping between them runs synchronously in the continuation that receives the result.
 * This keeps the runtime's share of a step small (see docs/performance.md).
 *
 * @internal
 */
import { Effect, Result } from "effect"
import * as Handoff from "../../Handoff.js"
import type { ModelError, StepResponse } from "../../LanguageModel.js"
import * as Message from "../../Message.js"
import * as Output from "../../Output.js"
import type { Completed, RunOutcome } from "../../RunState.js"
import * as Solver from "../../ToolRuleSolver.js"
import { checkStop } from "../agent.js"
import * as CallKey from "../callKey.js"
import * as FinalAnswer from "../finalAnswer.js"
import * as ToolChoices from "../toolChoice.js"
import { type Next, processQueue } from "./calls.js"
import { type Context, speaking } from "./context.js"
import { leaseDue, save } from "./lifecycle.js"
import * as Machine from "./machine.js"
import { modelStep } from "./model.js"
import { addUsage, type Rest, stopped, toState, usageOf, type Working } from "./record.js"

const on = Machine.transitions

/** A handoff taken in the step under review, with the tools the step ran. */
interface Taken {
  readonly route: Handoff.Route
  readonly toolCallId: string
  readonly executed: ReadonlyArray<string>
}

const nothingExecuted: ReadonlyArray<string> = []

/**
 * Enters a state by an edge of the table: `to.Tools(on.Model.Calls, ctx, w)`. An edge's type is the state it
 * leads to, so the compiler refuses an edge that leads elsewhere, and `on` holds only the table's edges. One
 * small function per state (no dispatch on a name), so a step costs what the calls themselves cost.
 */
const to = {
  Step: (_: "Step", ctx: Context, w: Working): Rest => step(ctx, w),
  Model: (_: "Model", ctx: Context, w: Working): Rest => modelStep(ctx, w, answered, failed),
  Answer: (_: "Answer", ctx: Context, w: Working, response: StepResponse): Rest => reviewAnswer(ctx, w, response),
  Tools: (_: "Tools", ctx: Context, w: Working): Rest => processQueue(ctx, w, settled),
  Review: (_: "Review", ctx: Context, w: Working): Rest => reviewCalls(ctx, w),
  HandOff: (_: "HandOff", ctx: Context, w: Working, taken: Taken): Rest => handOff(ctx, w, taken),
  /** With the tools the step ran (for the stop conditions). */
  Continue: (_: "Continue", ctx: Context, w: Working, executed: ReadonlyArray<string>): Rest => continueUnlessStopped(ctx, w, executed),
  Completed: (_: "Completed", ctx: Context, w: Working, outcome: RunOutcome): Rest => finish(ctx, w, outcome),
  Stopped: (_: "Stopped", ctx: Context, w: Working, outcome: RunOutcome): Rest => finish(ctx, w, outcome),
  Suspended: (_: "Suspended", ctx: Context, w: Working): Rest =>
    finish(ctx, w, { _tag: "Suspended", runId: w.runId, pending: w.pending, steps: w.step, usage: usageOf(w) }),
  Failed: (_: "Failed", ctx: Context, w: Working, error: ModelError): Rest => fail(ctx, w, error)
} satisfies { readonly [S in Exclude<Machine.State, "Start">]: (edge: S, ctx: Context, w: Working, payload: never) => Rest }

/** Runs a claimed run from wherever it is: the step's queued calls, or the next model step. */
export const drive = (ctx: Context, w: Working): Rest => (w.queue.length > 0 ? to.Tools(on.Start.Queued, ctx, w) : to.Step(on.Start.Fresh, ctx, w))

/** Before a model step: wait for the events' consumer if it is behind, then check the step limit and the lease. */
const step = (ctx: Context, w: Working): Rest => {
  const wait = ctx.ready === undefined ? undefined : ctx.ready()
  return wait === undefined ? stepIfAllowed(ctx, w) : Effect.andThen(wait, Effect.suspend(() => stepIfAllowed(ctx, w)))
}

const stepIfAllowed = (ctx: Context, w: Working): Rest => {
  if (w.step >= ctx.agent.maxSteps) return to.Stopped(on.Step.StepLimit, ctx, w, stopped(w, "max_steps", `reached the limit of ${ctx.agent.maxSteps} steps`))
  const due = leaseDue(ctx, w)
  return due === undefined ? to.Model(on.Step.Ask, ctx, w) : Effect.andThen(due, Effect.suspend(() => to.Model(on.Step.Ask, ctx, w)))
}

/** Records a model step's answer, then runs its tool calls or reviews its text. */
const answered = (ctx: Context, w: Working, response: StepResponse): Rest => {
  w.stepOpen = false
  addUsage(w, response.usage)
  if (ctx.observed) ctx.emit({ _tag: "UsageReported", runId: w.runId, step: w.step, usage: response.usage })
  for (const message of response.transcript) w.messages.push(message)
  w.messages.push(
    response.approvalRequests.length === 0 && response.metadata === undefined
      ? Message.assistant(response.finalText, response.toolCalls)
      : Message.assistant(response.finalText, response.toolCalls, {
          approvalRequests: response.approvalRequests,
          ...(response.metadata === undefined ? {} : { metadata: response.metadata })
        })
  )
  if (response.text.length > 0) w.lastText = response.text
  w.queue = response.approvalRequests.length === 0 ? response.toolCalls.slice() : [...response.toolCalls, ...response.approvalRequests]
  w.executedInStep = []
  if (ToolChoices.honoured(ctx.agent.toolChoice, response.toolCalls)) w.toolChoiceUsed = true
  if (w.queue.length === 0) return to.Answer(on.Model.Text, ctx, w, response)
  w.choiceReprompts = 0
  return to.Tools(on.Model.Calls, ctx, w)
}

/** Keeps the run: stores it as it was before the failed step, so `resume` takes the step again. */
const failed = (ctx: Context, w: Working, error: ModelError): Rest => {
  if (error.reason !== "context-budget") return to.Failed(on.Model.Failed, ctx, w, error)
  // The context policy cannot fit the pinned messages; nothing was sent: a documented stop, not a failure.
  w.stepOpen = false
  w.step--
  return to.Stopped(on.Model.ContextBudget, ctx, w, stopped(w, "context_budget", error.message))
}

const fail = (ctx: Context, w: Working, error: ModelError): Rest => {
  w.stepOpen = false
  w.step--
  return Effect.andThen(save(ctx, w, "failed", { error: error.message }), Effect.fail(error))
}

/** A text-only answer: how the run ends, or what the model is told before it goes on. */
const reviewAnswer = (ctx: Context, w: Working, response: StepResponse): Rest => {
  ctx.emit({ _tag: "StepFinished", runId: w.runId, step: w.step, finishReason: response.finishReason })
  if (response.finishReason === "length") return to.Stopped(on.Answer.TokenLimit, ctx, w, stopped(w, "max_tokens", "the model hit its output token limit"))
  if (response.finishReason === "content_filter") return to.Stopped(on.Answer.Filtered, ctx, w, stopped(w, "content_filter", "the model's output was filtered"))
  // A forced choice answered in text (no call, not even one the provider ran): re-prompt, a bounded number of times.
  if (response.transcript.length === 0 && ToolChoices.isForced(w.choice)) {
    if (!ToolChoices.mayReprompt(ctx.agent, w.choiceReprompts)) {
      return to.Stopped(on.Answer.ChoiceExhausted, ctx, w, stopped(w, "tool_choice", ToolChoices.stopDetail(w.choice, w.choiceReprompts + 1)))
    }
    w.choiceReprompts++
    // Marked as the loop's: context policies and handoff filters do not take it for a user turn.
    w.messages.push(Message.reprompt("tool_choice", ToolChoices.reprompt(w.choice)))
    return to.Continue(on.Answer.ChoiceReprompt, ctx, w, nothingExecuted)
  }
  // The model tried to finish early: it is re-prompted to call the required tools.
  if (exitHeld(ctx, w)) return to.Continue(on.Answer.ExitHeld, ctx, w, nothingExecuted)
  const spec = ctx.agent.output
  if (spec === undefined) return to.Completed(on.Answer.Answered, ctx, w, completed(w, "end_turn", w.lastText))
  // A typed output: decoded, or returned to the model with the reason (see `Output`).
  const decoded = Output.decode(spec, response.text)
  if (Result.isSuccess(decoded)) {
    w.outputReprompts = 0
    return to.Completed(on.Answer.Answered, ctx, w, { ...completed(w, "end_turn", w.lastText), output: decoded.success })
  }
  if (w.outputReprompts >= spec.retries) {
    return to.Stopped(on.Answer.OutputExhausted, ctx, w, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, decoded.failure)))
  }
  w.outputReprompts++
  // In "tool" mode, point the model at the final-answer tool (when this step offered it).
  w.messages.push(Message.reprompt("output", Output.reprompt(decoded.failure, w.choice === "none" ? undefined : ctx.output.toolName)))
  return to.Continue(on.Answer.OutputReprompt, ctx, w, nothingExecuted)
}

const completed = (w: Working, reason: Completed["reason"], text: string): Completed => ({
  _tag: "Completed",
  runId: w.runId,
  reason,
  text,
  steps: w.step,
  usage: usageOf(w)
})

/**
 * Required-before-exit tools not called yet hold the run open: the model is told to call them (true), and
 * the run goes on. Every way a run may end (a text answer, a terminal tool, a final-answer call) asks this.
 */
const exitHeld = (ctx: Context, w: Working): boolean => {
  const uncalled = Solver.uncalledRequired(ctx.compiled, ctx.names, w.solver)
  if (uncalled.length === 0) return false
  w.messages.push(Message.reprompt("required_tools", Solver.requiredBeforeExitPrompt(uncalled)))
  return true
}

const settled: Next = (ctx, w, settlement) => (settlement === "Settled" ? to.Review(on.Tools.Settled, ctx, w) : to.Suspended(on.Tools.Pending, ctx, w))

/** After every call of a step has its result: a final answer, a handoff, a terminal tool, or on. */
const reviewCalls = (ctx: Context, w: Working): Rest => {
  if (ctx.observed) ctx.emit({ _tag: "StepFinished", runId: w.runId, step: w.step, finishReason: "tool_calls" })
  const executed = w.executedInStep
  w.executedInStep = []
  if (ctx.output.toolName !== undefined) {
    const ended = reviewFinalAnswer(ctx, w, ctx.output.toolName, executed)
    if (ended !== undefined) return ended
  }
  if (ctx.routes !== undefined) {
    const taken = Handoff.taken(ctx.routes, executed, w.messages)
    if (taken !== undefined) return to.HandOff(on.Review.HandOff, ctx, w, { route: taken.route, toolCallId: taken.toolCallId, executed })
  }
  // Required-before-exit overrides a terminal tool (the model is told why the run goes on).
  if (ctx.compiled.rules.length > 0 && executed.some((name) => Solver.continuation(ctx.compiled, name) === "stop")) {
    return exitHeld(ctx, w) ? to.Continue(on.Review.ExitHeld, ctx, w, executed) : to.Completed(on.Review.Terminal, ctx, w, completed(w, "terminal_tool", w.lastText))
  }
  return to.Continue(on.Review.Next, ctx, w, executed)
}

/**
 * "tool" mode: a valid final-answer call completes the run (unless required tools are still uncalled); an
 * invalid one (its error result already tells the model why) spends one of the output retries.
 */
const reviewFinalAnswer = (ctx: Context, w: Working, toolName: string, executed: ReadonlyArray<string>): Rest | undefined => {
  const spec = ctx.agent.output!
  const verdict = FinalAnswer.verdict(spec, toolName, w.messages)
  if (verdict === undefined) return undefined
  if (verdict._tag === "Accepted") {
    // As for a text answer: the run may not end before the required tools are called.
    if (exitHeld(ctx, w)) return to.Continue(on.Review.ExitHeld, ctx, w, executed)
    w.outputReprompts = 0
    w.lastText = verdict.text
    return to.Completed(on.Review.FinalAnswer, ctx, w, { ...completed(w, "end_turn", verdict.text), output: verdict.output })
  }
  if (w.outputReprompts >= spec.retries) {
    return to.Stopped(on.Review.OutputExhausted, ctx, w, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, verdict.reason)))
  }
  w.outputReprompts++
  return undefined
}

/**
 * A handoff call ran: the conversation goes on with the target (see `Handoff`), once the lease gate lets it.
 * Its rule history starts fresh (the run's max-count budgets do not), its forced tool choice applies anew, and the
 * history passes the handoff's filter.
 */
const handOff = (ctx: Context, w: Working, taken: Taken): Rest => {
  const due = leaseDue(ctx, w)
  return due === undefined ? switchAgent(ctx, w, taken) : Effect.andThen(due, Effect.suspend(() => switchAgent(ctx, w, taken)))
}

const switchAgent = (ctx: Context, w: Working, taken: Taken): Rest => {
  const target = ctx.agents!.get(taken.route.to)!
  const names = `${ctx.agent.name} -> ${target.agent.name}`
  if (w.handoffs >= ctx.agent.maxHandoffs) {
    return to.Stopped(on.HandOff.HandoffLimit, ctx, w, stopped(w, "max_handoffs", `the run reached its limit of ${ctx.agent.maxHandoffs} handoff(s); ${names} was not taken`))
  }
  const messages = Handoff.transfer(w.messages, ctx, target, taken.route.inputFilter)
  if (Result.isFailure(messages)) return to.Stopped(on.HandOff.HandoffFailed, ctx, w, stopped(w, "handoff_failed", `${names}: ${messages.failure}`))
  // Ids the filter drops still count as used (stored with the run); the rest are read from the new history.
  if (taken.route.inputFilter !== undefined) w.droppedCallIds = CallKey.droppedBy(w.messages, messages.success, w.droppedCallIds)
  w.callIds = undefined
  w.messages.length = 0
  for (const message of messages.success) w.messages.push(message)
  w.handoffs++
  w.agent = target.agent.name === ctx.owner ? undefined : target.agent.name
  // The target's rules start fresh, but the calls made so far keep spending the run's max-count budgets.
  Handoff.restartRules(w.solver)
  w.toolChoiceUsed = false
  w.choiceReprompts = 0
  w.outputReprompts = 0
  ctx.emit({ _tag: "HandedOff", runId: w.runId, step: w.step, from: ctx.agent.name, to: target.agent.name, toolCallId: taken.toolCallId, toolName: taken.route.tool })
  return to.Continue(on.HandOff.Switched, speaking(ctx, target), w, taken.executed)
}

/** Checks the agent's stop conditions (if any), then takes the next step. */
const continueUnlessStopped = (ctx: Context, w: Working, executed: ReadonlyArray<string>): Rest =>
  ctx.agent.stopWhen.length === 0
    ? to.Step(on.Continue.Next, ctx, w)
    : Effect.flatMap(stopCondition(ctx, w, executed), (stop) => (stop === undefined ? to.Step(on.Continue.Next, ctx, w) : to.Stopped(on.Continue.StopCondition, ctx, w, stop)))

const stopCondition = (ctx: Context, w: Working, executed: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const state = toState(w, ctx.owner, "running")
    for (const condition of ctx.agent.stopWhen) {
      if (yield* checkStop(condition, { state, executed })) return stopped(w, "stop_condition", condition.description)
    }
    return undefined
  })

/** Stores the final (or suspended) state first (a fenced write), then announces the outcome. */
const finish = (ctx: Context, w: Working, answer: RunOutcome): Rest => {
  // With handoffs, the answer names its agent: its output schema is the one that decoded `output`.
  const outcome: RunOutcome = answer._tag === "Completed" && ctx.agents !== undefined ? { ...answer, agent: w.agent ?? ctx.owner } : answer
  return Effect.map(save(ctx, w, outcome._tag === "Suspended" ? "suspended" : outcome._tag === "Completed" ? "completed" : "stopped", { outcome }), () => {
    w.ended = true
    ctx.emit({ _tag: "RunFinished", runId: w.runId, outcome })
    return outcome
  })
}


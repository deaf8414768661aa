/**
 * The step machine's driver: one function per state of `machine.ts`, each ending by taking one of the
 * table's edges (`enter(ctx, w, on.Model.Calls)`), so the run goes nowhere the table does not say.
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

/** What entering each state takes. */
interface Payloads {
  readonly Start: never
  readonly Step: undefined
  readonly Model: undefined
  readonly Answer: StepResponse
  readonly Tools: undefined
  readonly Review: undefined
  readonly HandOff: Taken
  /** The tools the step ran (for the stop conditions). */
  readonly Continue: ReadonlyArray<string>
  readonly Completed: RunOutcome
  readonly Stopped: RunOutcome
  readonly Suspended: undefined
  readonly Failed: ModelError
}

const nothingExecuted: ReadonlyArray<string> = []

/** Enters `state` (always the target of an edge of the table), with what that state takes. */
type Enter = <S extends Exclude<Machine.State, "Start">>(
  ctx: Context,
  w: Working,
  state: S,
  ...payload: Payloads[S] extends undefined ? [] : [Payloads[S]]
) => Rest

// A plain optional parameter below (the type above keeps callers honest): no rest array per transition.
const enter: Enter = (ctx: Context, w: Working, state: Machine.State, payload?: unknown): Rest => {
  switch (state as Machine.State) {
    case "Step":
      return step(ctx, w)
    case "Model":
      return modelStep(ctx, w, answered, failed)
    case "Answer":
      return reviewAnswer(ctx, w, payload as StepResponse)
    case "Tools":
      return processQueue(ctx, w, settled)
    case "Review":
      return reviewCalls(ctx, w)
    case "HandOff":
      return handOff(ctx, w, payload as Taken)
    case "Continue":
      return continueUnlessStopped(ctx, w, payload as ReadonlyArray<string>)
    case "Completed":
    case "Stopped":
      return finish(ctx, w, payload as RunOutcome)
    case "Suspended":
      return finish(ctx, w, { _tag: "Suspended", runId: w.runId, pending: w.pending, steps: w.step, usage: usageOf(w) })
    case "Failed":
      return fail(ctx, w, payload as ModelError)
    case "Start":
      throw new Error("no edge leads back to Start")
  }
}

/** Runs a claimed run from wherever it is: the step's queued calls, or the next model step. */
export const drive = (ctx: Context, w: Working): Rest => (w.queue.length > 0 ? enter(ctx, w, on.Start.Queued) : enter(ctx, w, on.Start.Fresh))

/** Before a model step: wait for the events' consumer if it is behind, then check the step limit and the lease. */
const step = (ctx: Context, w: Working): Rest => {
  const wait = ctx.ready === undefined ? undefined : ctx.ready()
  return wait === undefined ? stepIfAllowed(ctx, w) : Effect.andThen(wait, Effect.suspend(() => stepIfAllowed(ctx, w)))
}

const stepIfAllowed = (ctx: Context, w: Working): Rest => {
  if (w.step >= ctx.agent.maxSteps) return enter(ctx, w, on.Step.StepLimit, stopped(w, "max_steps", `reached the limit of ${ctx.agent.maxSteps} steps`))
  const due = leaseDue(ctx, w)
  return due === undefined ? enter(ctx, w, on.Step.Ask) : Effect.andThen(due, Effect.suspend(() => enter(ctx, w, on.Step.Ask)))
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
  if (w.queue.length === 0) return enter(ctx, w, on.Model.Text, response)
  w.choiceReprompts = 0
  return enter(ctx, w, on.Model.Calls)
}

/** Keeps the run: stores it as it was before the failed step, so `resume` takes the step again. */
const failed = (ctx: Context, w: Working, error: ModelError): Rest => enter(ctx, w, on.Model.Failed, error)

const fail = (ctx: Context, w: Working, error: ModelError): Rest => {
  w.stepOpen = false
  w.step--
  return Effect.andThen(save(ctx, w, "failed", { error: error.message }), Effect.fail(error))
}

/** A text-only answer: how the run ends, or what the model is told before it goes on. */
const reviewAnswer = (ctx: Context, w: Working, response: StepResponse): Rest => {
  ctx.emit({ _tag: "StepFinished", runId: w.runId, step: w.step, finishReason: response.finishReason })
  if (response.finishReason === "length") return enter(ctx, w, on.Answer.TokenLimit, stopped(w, "max_tokens", "the model hit its output token limit"))
  if (response.finishReason === "content_filter") return enter(ctx, w, on.Answer.Filtered, stopped(w, "content_filter", "the model's output was filtered"))
  // A forced choice answered in text (no call, not even one the provider ran): re-prompt, a bounded number of times.
  if (response.transcript.length === 0 && ToolChoices.isForced(w.choice)) {
    if (!ToolChoices.mayReprompt(ctx.agent, w.choiceReprompts)) {
      return enter(ctx, w, on.Answer.ChoiceExhausted, stopped(w, "tool_choice", ToolChoices.stopDetail(w.choice, w.choiceReprompts + 1)))
    }
    w.choiceReprompts++
    w.messages.push(Message.user(ToolChoices.reprompt(w.choice)))
    return enter(ctx, w, on.Answer.ChoiceReprompt, nothingExecuted)
  }
  // The model tried to finish early: it is re-prompted to call the required tools.
  if (exitHeld(ctx, w)) return enter(ctx, w, on.Answer.ExitHeld, nothingExecuted)
  const spec = ctx.agent.output
  if (spec === undefined) return enter(ctx, w, on.Answer.Answered, completed(w, "end_turn", w.lastText))
  // A typed output: decoded, or returned to the model with the reason (see `Output`).
  const decoded = Output.decode(spec, response.text)
  if (Result.isSuccess(decoded)) {
    w.outputReprompts = 0
    return enter(ctx, w, on.Answer.Answered, { ...completed(w, "end_turn", w.lastText), output: decoded.success })
  }
  if (w.outputReprompts >= spec.retries) {
    return enter(ctx, w, on.Answer.OutputExhausted, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, decoded.failure)))
  }
  w.outputReprompts++
  // In "tool" mode, point the model at the final-answer tool (when this step offered it).
  w.messages.push(Message.user(Output.reprompt(decoded.failure, w.choice === "none" ? undefined : ctx.output.toolName)))
  return enter(ctx, w, on.Answer.OutputReprompt, nothingExecuted)
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
  w.messages.push(Message.user(Solver.requiredBeforeExitPrompt(uncalled)))
  return true
}

const settled: Next = (ctx, w, settlement) => (settlement === "Settled" ? enter(ctx, w, on.Tools.Settled) : enter(ctx, w, on.Tools.Pending))

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
    if (taken !== undefined) return enter(ctx, w, on.Review.HandOff, { route: taken.route, toolCallId: taken.toolCallId, executed })
  }
  // Required-before-exit overrides a terminal tool (the model is told why the run goes on).
  if (ctx.compiled.rules.length > 0 && executed.some((name) => Solver.continuation(ctx.compiled, name) === "stop")) {
    return exitHeld(ctx, w) ? enter(ctx, w, on.Review.ExitHeld, executed) : enter(ctx, w, on.Review.Terminal, completed(w, "terminal_tool", w.lastText))
  }
  return enter(ctx, w, on.Review.Next, executed)
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
    if (exitHeld(ctx, w)) return enter(ctx, w, on.Review.ExitHeld, executed)
    w.outputReprompts = 0
    w.lastText = verdict.text
    return enter(ctx, w, on.Review.FinalAnswer, { ...completed(w, "end_turn", verdict.text), output: verdict.output })
  }
  if (w.outputReprompts >= spec.retries) {
    return enter(ctx, w, on.Review.OutputExhausted, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, verdict.reason)))
  }
  w.outputReprompts++
  return undefined
}

/**
 * A handoff call ran: the conversation goes on with the target (see `Handoff`), once the lease gate lets it.
 * Its rule history starts fresh, its forced tool choice applies anew, and the history passes the handoff's filter.
 */
const handOff = (ctx: Context, w: Working, taken: Taken): Rest => {
  const due = leaseDue(ctx, w)
  return due === undefined ? switchAgent(ctx, w, taken) : Effect.andThen(due, Effect.suspend(() => switchAgent(ctx, w, taken)))
}

const switchAgent = (ctx: Context, w: Working, taken: Taken): Rest => {
  const target = ctx.agents!.get(taken.route.to)!
  const names = `${ctx.agent.name} -> ${target.agent.name}`
  if (w.handoffs >= ctx.agent.maxHandoffs) {
    return enter(ctx, w, on.HandOff.HandoffLimit, stopped(w, "max_handoffs", `the run reached its limit of ${ctx.agent.maxHandoffs} handoff(s); ${names} was not taken`))
  }
  const messages = Handoff.transfer(w.messages, ctx, target, taken.route.inputFilter)
  if (Result.isFailure(messages)) return enter(ctx, w, on.HandOff.HandoffFailed, stopped(w, "handoff_failed", `${names}: ${messages.failure}`))
  // Ids the filter drops still count as used (stored with the run); the rest are read from the new history.
  if (taken.route.inputFilter !== undefined) w.droppedCallIds = CallKey.droppedBy(w.messages, messages.success, w.droppedCallIds)
  w.callIds = undefined
  w.messages.length = 0
  for (const message of messages.success) w.messages.push(message)
  w.handoffs++
  w.agent = target.agent.name === ctx.owner ? undefined : target.agent.name
  w.solver.history.length = 0
  w.solver.lastOutput = undefined
  w.solver.failed.length = 0
  w.toolChoiceUsed = false
  w.choiceReprompts = 0
  w.outputReprompts = 0
  ctx.emit({ _tag: "HandedOff", runId: w.runId, step: w.step, from: ctx.agent.name, to: target.agent.name, toolCallId: taken.toolCallId, toolName: taken.route.tool })
  return enter(speaking(ctx, target), w, on.HandOff.Switched, taken.executed)
}

/** Checks the agent's stop conditions (if any), then takes the next step. */
const continueUnlessStopped = (ctx: Context, w: Working, executed: ReadonlyArray<string>): Rest =>
  ctx.agent.stopWhen.length === 0
    ? enter(ctx, w, on.Continue.Next)
    : Effect.flatMap(stopCondition(ctx, w, executed), (stop) => (stop === undefined ? enter(ctx, w, on.Continue.Next) : enter(ctx, w, on.Continue.StopCondition, stop)))

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


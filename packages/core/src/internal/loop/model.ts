/**
 * One model step: the request (the history, the tools and tool choice the rules allow this step, the typed
 * output's response format), asked the cheapest way the model and the run allow, and its parts reported as
 * they arrive when someone observes the run.
 *
 * @internal
 */
import { Cause, Effect, Result } from "effect"
import { collectStep, type ModelError, type StepHandlers, type StepResponse } from "../../LanguageModel.js"
import { StepLoop } from "../runStep.js"
import * as Solver from "../../ToolRuleSolver.js"
import { StepCollector } from "../stepCollector.js"
import * as ToolChoices from "../toolChoice.js"
import type { Context } from "./context.js"
import { type ModelSteps, recordTool, type Rest, type Working } from "./record.js"

/** Takes model step `w.step + 1` and continues with its answer or its failure (functions of the driver: no closure is made for them). */
export const modelStep = (
  ctx: Context,
  w: Working,
  onAnswer: (ctx: Context, w: Working, response: StepResponse) => Rest,
  onFailure: (ctx: Context, w: Working, error: ModelError) => Rest
): Rest => {
  w.step++
  w.stepOpen = true
  const plan = Solver.plan(ctx.compiled, ctx.names, w.solver)
  const toolChoice = ToolChoices.effective(ctx.agent, w.toolChoiceUsed, plan)
  w.choice = toolChoice
  const offered = toolChoice === "none" ? [] : plan.allowed
  if (ctx.observed) ctx.emit({ _tag: "StepStarted", runId: w.runId, step: w.step, agent: ctx.agent.name, tools: offered, toolChoice })
  const request = {
    messages: w.messages.slice(),
    tools: offered === ctx.names ? ctx.definitions : offered.map((name) => ctx.toolkit.tools.get(name)!.definition),
    availableTools: ctx.definitions,
    toolChoice,
    parallelToolCalls: !ctx.compiled.ordered,
    responseFormat: ctx.output.responseFormat
  }
  if (ctx.stepRunner === undefined) {
    // Run the step at once, its parts collected as they arrive and the result read in the continuation that
    // receives its end (`collectStep` adds a `suspend` and a `map` per step, for laziness only a durable
    // runner needs). What runs the step and its continuations are made once per run (see `ModelSteps`).
    const steps = modelSteps(ctx, w, onAnswer, onFailure)
    return Effect.matchCauseEffect(steps.loop.run(request), steps.then)
  }
  const handlers = ctx.observed ? (w.observedHandlers ??= observedHandlers(ctx, w)) : (w.quietHandlers ??= quietHandlers(w))
  return Effect.matchEffect(ctx.stepRunner.modelStep(w.step, collectStep(ctx.model, request, handlers)), {
    onFailure: (error: ModelError) => onFailure(ctx, w, error),
    onSuccess: (response) => onAnswer(ctx, w, response)
  })
}

const modelSteps = (
  ctx: Context,
  w: Working,
  onAnswer: ModelSteps["onAnswer"],
  onFailure: ModelSteps["onFailure"]
): ModelSteps => {
  const kept = w.modelSteps
  if (kept !== undefined && kept.ctx === ctx && kept.onAnswer === onAnswer && kept.onFailure === onFailure) return kept
  const handlers = ctx.observed ? (w.observedHandlers ??= observedHandlers(ctx, w)) : (w.quietHandlers ??= quietHandlers(w))
  const loop = new StepLoop(ctx.model, new StepCollector(handlers), handlers.ready)
  return (w.modelSteps = {
    ctx,
    onAnswer,
    onFailure,
    loop,
    then: {
      // `Effect.matchEffect`'s handling (a typed failure to `onFailure`; an interruption, or a defect with the
      // failures beside it made defects, passed on), without the closure it makes per use: a cause with a
      // defect, rare, is passed on by `matchEffect` itself.
      onFailure: (cause) => {
        if (Cause.hasDies(cause)) return Effect.matchEffect(Effect.failCause(cause), { onFailure: Effect.fail, onSuccess: Effect.succeed })
        const error = Cause.findError(cause)
        return Result.isSuccess(error) ? onFailure(ctx, w, error.success) : Effect.failCause(error.failure)
      },
      // One parameter, so that `matchCauseEffect` does not wrap it in a closure of its own.
      onSuccess: (_) => onAnswer(ctx, w, loop.collector.result())
    }
  })
}

/** The step handlers when nobody observes the run: remote results still count in the rule history. */
const quietHandlers = (w: Working): StepHandlers => ({
  onRemoteResult: (result) => {
    recordTool(w, result.toolName, result.content, result.isError)
  }
})

/** What the loop does with a step's parts as they arrive, when someone observes the run. */
const observedHandlers = (ctx: Context, w: Working): StepHandlers => ({
  ...(ctx.ready === undefined ? {} : { ready: ctx.ready }),
  // `w.step` is read when a part arrives: it is the step being collected (it changes only between steps).
  onText: (delta) => ctx.emit({ _tag: "TextDelta", runId: w.runId, step: w.step, delta }),
  onRemoteCall: (call) =>
    ctx.emit({ _tag: "ToolCalled", runId: w.runId, step: w.step, toolCallId: call.id, toolName: call.name, arguments: parseLoosely(call.arguments), remote: true }),
  onRemoteResult: (result) => {
    // A tool the provider ran counts in the rule history like one we ran.
    recordTool(w, result.toolName, result.content, result.isError)
    ctx.emit({
      _tag: "ToolResult",
      runId: w.runId,
      step: w.step,
      toolCallId: result.toolCallId,
      toolName: result.toolName,
      content: result.content,
      isError: result.isError,
      remote: true
    })
  },
  onRaw: (raw) => ctx.emit({ _tag: "Raw", runId: w.runId, step: w.step, source: raw.source, data: raw.data })
})

/** Arguments for events: the parsed object when the text is JSON, else the text itself. */
const parseLoosely = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

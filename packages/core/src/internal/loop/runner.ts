/**
 * A `Runner`: an agent bound once to its services (`context.ts`), whose `run` claims a new run and whose
 * `resume` recovers a stored one (`lifecycle.ts`), each then driven by the step machine (`driver.ts`) under
 * supervision (an interruption stores the run resumable).
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import { Context as ContextModule, Duration, Effect, Option } from "effect"
import { EventObserver } from "../../AgentEvent.js"
import * as Approval from "../../Approval.js"
import * as ContextPolicy from "../../ContextPolicy.js"
import { LanguageModel } from "../../LanguageModel.js"
import * as Message from "../../Message.js"
import * as RunClaim from "../../RunClaim.js"
import * as RunEvents from "../../RunEvents.js"
import type { RunOutcome } from "../../RunState.js"
import { RunStore } from "../../RunStore.js"
import { StepRunner } from "../../StepRunner.js"
import type * as Tool from "../../Tool.js"
import * as Tracing from "../../Tracing.js"
import type * as Agent from "../agent.js"
import { type BindError, bindAgent, type Context, contextOf, type Services } from "./context.js"
import { drive } from "./driver.js"
import { claimNew, recover, supervised } from "./lifecycle.js"
import { fresh } from "./record.js"
import type { LoopError, Options, RunInput, Runner } from "./types.js"

/** Binds an agent to the services in context (see `Loop.makeRunner`). */
export const makeRunner = (agent: Agent.Any): Effect.Effect<Runner, BindError, LanguageModel | Approval.Approvals | RunStore | Tool.Handler<string>> =>
  Effect.gen(function* () {
    const model = yield* LanguageModel
    const services: Services = {
      // With a `ContextPolicy` in context, the model sees what it selects (looked up once; none: no cost); with
      // `Tracing`, each model step runs under its chat span (none: the model as it is).
      model: Tracing.nestModel(ContextPolicy.applyTo(model, yield* Effect.serviceOption(ContextPolicy.ContextPolicy)), yield* Effect.serviceOption(Tracing.Tracing)),
      // Read from the model itself: a context policy's wrapper does not carry it.
      outputMode: model.outputMode,
      approvals: yield* Approval.Approvals,
      store: yield* RunStore,
      leaseMs: Duration.toMillis(yield* RunClaim.LeaseDuration),
      observer: Option.getOrUndefined(yield* Effect.serviceOption(EventObserver)),
      stepRunner: Option.getOrUndefined(yield* Effect.serviceOption(StepRunner))
    }
    const bound = yield* bindAgent(agent, services)
    const withContext = <A, E>(options: Options | undefined, f: (ctx: Context) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      bound.observer !== undefined && bound.stepRunner !== undefined
        ? Effect.suspend(() => f(contextOf(bound, options, bound.observer, bound.stepRunner)))
        : Effect.contextWith((caller: ContextModule.Context<never>) =>
            f(
              contextOf(
                bound,
                options,
                bound.observer ?? ContextModule.getOrUndefined(caller as ContextModule.Context<EventObserver>, EventObserver),
                bound.stepRunner ?? ContextModule.getOrUndefined(caller as ContextModule.Context<StepRunner>, StepRunner)
              )
            )
          )
    const run = (options: Options | undefined, input: RunInput) => withContext(options, (ctx) => start(ctx, input))
    const resume = (options: Options | undefined, runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>) =>
      withContext(options, (ctx) => resumeIn(ctx, runId, decisions))
    // Looked up once: without the tracing layer, runs pay nothing for it.
    const tracing = Option.getOrUndefined(yield* Effect.serviceOption(Tracing.Tracing))
    const tracedRun = tracing === undefined ? run : Tracing.traced(tracing, agent.name, run)
    const tracedResume = tracing === undefined ? resume : Tracing.traced(tracing, agent.name, resume)
    const runner: Runner = {
      run: (input, options) => tracedRun(options, input),
      resume: (runId, decisions, options) => tracedResume(options, runId, decisions),
      stream: (input) => RunEvents.toStream((options) => runner.run(input, options)),
      resumeStream: (runId, decisions) => RunEvents.toStream((options) => runner.resume(runId, decisions, options))
    }
    return runner
  })

/** Starts a new run: claimed first when its id was given (it must be new), then driven. */
const start = (ctx: Context, input: RunInput): Effect.Effect<RunOutcome, LoopError> => {
  const runId = input.runId ?? `run_${randomUUID()}`
  const messages: Array<Message.Message> = typeof input.input === "string" ? [Message.user(input.input)] : [...input.input]
  if (ctx.system.length > 0 && messages[0]?._tag !== "SystemMessage") messages.unshift(Message.system(ctx.system))
  const w = fresh(runId, messages)
  const go = () => {
    ctx.emit({ _tag: "RunStarted", runId, resumed: false, agent: ctx.agent.name })
    return supervised(ctx, w, drive(ctx, w))
  }
  return input.runId === undefined ? go() : Effect.flatMap(claimNew(ctx, w, true), go)
}

/** Resumes a stored run with decisions (see `Loop.resume`): recovered and claimed, then driven. */
const resumeIn = (owner: Context, runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>): Effect.Effect<RunOutcome, LoopError> =>
  Effect.flatMap(recover(owner, runId, decisions), ({ ctx, w }) => {
    ctx.emit({ _tag: "RunStarted", runId, resumed: true, agent: ctx.agent.name })
    return supervised(ctx, w, drive(ctx, w))
  })


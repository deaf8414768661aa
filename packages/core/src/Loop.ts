/**
 * The local agent loop: reason -> run tools -> continue, until the model answers without tools, a terminal
 * rule fires, a stop condition holds, or approvals are pending.
 *
 * Invariants:
 * - every tool call the model makes ends with exactly one tool result (executed, rejected, or denied);
 * - tool rules are checked before approval is asked, so an approval never lets a forbidden call through;
 * - a call that needs approval runs at most once, and only after an approval for exactly its arguments;
 * - the run state is persisted when the run suspends, finishes, fails or is interrupted, so no state is lost;
 * - a run is claimed (compare-and-set, with a lease) before it runs, and every later write is a
 *   compare-and-set against the owner's last revision: one owner at a time (see `RunClaim`).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Cause, Context as ContextModule, Deferred, Duration, Effect, Option, Result, Schema, Stream } from "effect"
import type * as Agent from "./internal/agent.js"
import { checkStop, InvalidToolChoice } from "./internal/agent.js"
import { type AgentEvent, EventObserver } from "./AgentEvent.js"
import * as Approval from "./Approval.js"
import * as ContextPolicy from "./ContextPolicy.js"
import * as Handoff from "./Handoff.js"
import {
  collectParts,
  collectStep,
  LanguageModel,
  type ModelError,
  type StepHandlers,
  type StepResponse,
  type ToolChoice,
  type ToolDefinition
} from "./LanguageModel.js"
import * as Message from "./Message.js"
import * as Output from "./Output.js"
import * as RunClaim from "./RunClaim.js"
import * as RunEvents from "./RunEvents.js"
import * as RunIntegrity from "./RunIntegrity.js"
import { InFlightCall, type Lease, type RunOutcome, RunState, type RunStateError, revisionOf, type StopReason } from "./RunState.js"
import { RunStore, type RunStoreError } from "./RunStore.js"
import type * as Tool from "./Tool.js"
import * as Toolkit from "./Toolkit.js"
import * as ToolRule from "./ToolRule.js"
import * as Solver from "./ToolRuleSolver.js"
import * as ToolRuleAnalysis from "./ToolRuleAnalysis.js"
import * as CallKey from "./internal/callKey.js"
import * as FinalAnswer from "./internal/finalAnswer.js"
import * as Nested from "./internal/nested.js"
import { StepCollector } from "./internal/stepCollector.js"
import * as ToolChoices from "./internal/toolChoice.js"
import { StepRunner } from "./StepRunner.js"
import * as Tracing from "./Tracing.js"

export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", { runId: Schema.String }) {
  override get message(): string {
    return `No run ${this.runId} in the run store`
  }
}

/** The run exists but cannot be resumed: it is not suspended or failed, or it belongs to another agent. */
export class RunNotResumable extends Schema.TaggedError<RunNotResumable>()("RunNotResumable", {
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Run ${this.runId} cannot be resumed: ${this.reason}`
  }
}

/** `run` was given a run id that the store already holds (runs are never overwritten). */
export class RunAlreadyExists extends Schema.TaggedError<RunAlreadyExists>()("RunAlreadyExists", { runId: Schema.String }) {
  override get message(): string {
    return `Run ${this.runId} already exists; resume it, or start a new run with another id`
  }
}

export type LoopError =
  | ModelError
  | RunAlreadyExists
  | ToolRule.InvalidToolRules
  | InvalidToolChoice
  | Output.InvalidOutput
  | Toolkit.MissingHandlers
  | Handoff.InvalidHandoffs
  | RunNotFound
  | RunNotResumable
  | Approval.InvalidApprovalDecision
  | Approval.ApprovalExpired
  | RunClaim.RunBusy
  | RunClaim.RunLeaseLost
  | RunIntegrity.RunStateTampered
  | RunStoreError
  | RunStateError

export interface RunInput {
  /** A user prompt, or a whole conversation to continue. */
  readonly input: string | ReadonlyArray<Message.Message>
  /** Defaults to a fresh `run_<uuid>`; give your own to correlate with your records. An id already in the store fails with `RunAlreadyExists`. */
  readonly runId?: string
}

export interface Options {
  /** Called synchronously with every event, in order. */
  readonly onEvent?: (event: AgentEvent) => void
  /**
   * Backpressure from the consumer of `onEvent`: asked before each model step (and between the chunks of a
   * streamed one), it returns an Effect to wait for first, or undefined to go on at once.
   */
  readonly ready?: () => Effect.Effect<void> | undefined
}

export type Requirements<Tools extends Record<string, Tool.Any>> =
  | LanguageModel
  | Approval.Approvals
  | RunStore
  | Toolkit.HandlerIds<Tools>

/**
 * An agent bound to its services: rules validated and compiled, handlers and services looked up once.
 * Backends build one when their layer is built, so a run pays only for itself.
 */
export interface Runner {
  /** Runs new input until the run completes, stops or suspends. */
  readonly run: (input: RunInput, options?: Options) => Effect.Effect<RunOutcome, LoopError>
  /** Resumes a suspended (or failed) run with approval decisions. */
  readonly resume: (
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>,
    options?: Options
  ) => Effect.Effect<RunOutcome, LoopError>
  /** `run` as a stream of events; the last event is `RunFinished` with the outcome. */
  readonly stream: (input: RunInput) => Stream.Stream<AgentEvent, LoopError>
  /** `resume` as a stream of events. */
  readonly resumeStream: (runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>) => Stream.Stream<AgentEvent, LoopError>
}

/**
 * Binds an agent to the services in context. An `EventObserver` or `StepRunner` found here is used for
 * every run; without one, each run looks for them where it runs.
 */
export const makeRunner = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>
): Effect.Effect<Runner, ToolRule.InvalidToolRules | InvalidToolChoice | Output.InvalidOutput | Toolkit.MissingHandlers | Handoff.InvalidHandoffs, Requirements<Tools> | R> =>
  Effect.gen(function* () {
    const model = yield* LanguageModel
    const services: Services = {
      // With a `ContextPolicy` in context, the model sees what it selects (looked up once; none: no cost).
      model: ContextPolicy.applyTo(model, yield* Effect.serviceOption(ContextPolicy.ContextPolicy)),
      // Read from the model itself: a context policy's wrapper does not carry it.
      outputMode: model.outputMode,
      approvals: yield* Approval.Approvals,
      store: yield* RunStore,
      leaseMs: Duration.toMillis(yield* RunClaim.LeaseDuration),
      observer: Option.getOrUndefined(yield* Effect.serviceOption(EventObserver)),
      stepRunner: Option.getOrUndefined(yield* Effect.serviceOption(StepRunner))
    }
    const bound: Bound =
      agent.handoffs.length === 0
        ? yield* bind(agent as unknown as Agent.Any, agent as unknown as Agent.Any, services, agent.name, undefined, undefined)
        : yield* bindHandoffGraph(agent as unknown as Agent.Any, services)
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
      stream: (input) => toStream((options) => runner.run(input, options)),
      resumeStream: (runId, decisions) => toStream((options) => runner.resume(runId, decisions, options))
    }
    return runner
  }) as Effect.Effect<Runner, ToolRule.InvalidToolRules | InvalidToolChoice | Output.InvalidOutput | Toolkit.MissingHandlers | Handoff.InvalidHandoffs, Requirements<Tools> | R>

/** The services a runner binds once, shared by every agent it runs. */
interface Services extends Pick<Bound, "model" | "approvals" | "store" | "leaseMs" | "observer" | "stepRunner"> {
  /** How the model takes a typed output, as it says (`LanguageModel.outputMode`). */
  readonly outputMode: LanguageModel["Service"]["outputMode"]
}

/**
 * Binds one agent: `agent` is how it runs (with handoff tools merged in), `source` as defined (whose
 * handlers the context must hold).
 */
const bind = (
  agent: Agent.Any,
  source: Agent.Any,
  services: Services,
  owner: string,
  routes: ReadonlyMap<string, Handoff.Route> | undefined,
  agents: ReadonlyMap<string, Bound> | undefined,
  node?: Handoff.Node
) =>
  Effect.gen(function* () {
    const compiled = yield* validateOne(agent)
    // Named by agent: with handoffs, the missing handler may be a target's.
    const resolved = yield* Effect.mapError(Toolkit.resolve(source.toolkit), (e) => new Toolkit.MissingHandlers({ tools: e.tools, agent: source.name }))
    const withHandoffs = node === undefined ? resolved : Handoff.withHandoffTools(resolved, node)
    // Typed output: the final-answer tool joins the toolkit in "tool" mode ("auto" asks the model).
    const output = yield* FinalAnswer.setup(agent, services.outputMode, withHandoffs, agent.toolkit.names)
    const toolkit = output.toolkit
    const system = [agent.instructions, agent.describeRules ? Solver.renderPrompt(compiled) : "", output.instructions]
      .filter((part): part is string => part !== undefined && part.length > 0)
      .join("\n\n")
    return {
      agent,
      compiled,
      toolkit,
      names: output.names,
      definitions: toolkit.definitions,
      system,
      output,
      model: services.model,
      approvals: services.approvals,
      store: services.store,
      leaseMs: services.leaseMs,
      observer: services.observer,
      stepRunner: services.stepRunner,
      owner,
      routes,
      agents
    } satisfies Bound
  })

/** Binds every agent reachable through handoffs (see `Handoff`); returns the runner's own. */
const bindHandoffGraph = (root: Agent.Any, services: Services) =>
  Effect.gen(function* () {
    const graph = yield* Effect.fromResult(Handoff.resolve(root))
    const agents = new Map<string, Bound>()
    for (const [name, node] of graph.nodes) {
      agents.set(name, yield* bind(node.agent, node.source, services, root.name, node.routes.size === 0 ? undefined : node.routes, agents, node))
    }
    return agents.get(root.name)!
  })

/** Runs an agent on new input until it completes, stops or suspends. */
export const run = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  input: RunInput,
  options?: Options
): Effect.Effect<RunOutcome, LoopError, Requirements<Tools> | R> => Effect.flatMap(makeRunner(agent), (runner) => runner.run(input, options))

/**
 * Resumes a suspended run with approval decisions (or a failed run, to retry it). Decisions must match
 * pending approvals exactly; calls left undecided stay pending and the run suspends again.
 */
export const resume = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>,
  options?: Options
): Effect.Effect<RunOutcome, LoopError, Requirements<Tools> | R> =>
  Effect.flatMap(makeRunner(agent), (runner) => runner.resume(runId, decisions, options))

/** `run` as a stream of events; the last event is `RunFinished` with the outcome. */
export const stream = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  input: RunInput
): Stream.Stream<AgentEvent, LoopError, Requirements<Tools> | R> => toStream((options) => run(agent, input, options))

/** `resume` as a stream of events. */
export const resumeStream = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>
): Stream.Stream<AgentEvent, LoopError, Requirements<Tools> | R> => toStream((options) => resume(agent, runId, decisions, options))

/**
 * Turns a loop that reports events through `onEvent` into a stream of those events, a chunk per batch (see
 * `RunEvents.toStream`): the run is forked when the stream starts, waits while `capacity` events are unread,
 * and is interrupted (and stored as resumable) if the consumer stops early.
 */
export const toStream = <E, R>(start: RunEvents.Start<unknown, E, R>, capacity?: number): Stream.Stream<AgentEvent, E, R> =>
  RunEvents.toStream(start, capacity)

/** Collects the outcome from an event stream (its `RunFinished` event). */
export const outcomeOf = <E, R>(events: Stream.Stream<AgentEvent, E, R>): Effect.Effect<Option.Option<RunOutcome>, E, R> =>
  Stream.runFold(events, Option.none<RunOutcome>, (last, event) =>
    event._tag === "RunFinished" ? Option.some(event.outcome) : last
  )

// ---------------------------------------------------------------------------------------------------------
// Internals

/** The mutable working copy of a run; snapshotted into a `RunState` whenever it is persisted. */
interface Working {
  readonly runId: string
  readonly messages: Array<Message.Message>
  step: number
  /** The tool-rule history, appended in place (copied only into snapshots): O(1) per call. */
  readonly solver: { readonly history: Array<string>; lastOutput: string | undefined; readonly failed: Array<string> }
  toolChoiceUsed: boolean
  /** The tool choice of the current step, which its calls are checked against (not persisted: see `ToolChoices.afterResume`). */
  choice: ToolChoice
  /** Text-only answers to a forced choice in a row, each re-prompted. */
  choiceReprompts: number
  /** Final answers that failed the agent's output schema, each returned to the model. */
  outputReprompts: number
  /** Sub-agent calls that suspended instead of answering, with the sub-agent's pending approvals (made on first use). */
  suspensions: Map<string, ReadonlyArray<Approval.PendingApproval>> | undefined
  suspendHook: NonNullable<Tool.HandlerContext["suspend"]> | undefined
  queue: Array<Message.ToolCall>
  executedInStep: Array<string>
  pending: Array<Approval.PendingApproval>
  inputTokens: number
  outputTokens: number
  totalTokens: number
  /** Decisions handed to `resume`, consumed as the queued calls are processed. */
  readonly decisions: Map<string, Approval.ApprovalDecision>
  /** The last non-empty text the model produced: the outcome's `text`. */
  lastText: string
  /** The step handlers when nobody observes the run (they depend on the run only): built once. */
  quietHandlers?: StepHandlers
  /** The step handlers when someone observes the run (they read the step when called): built once. */
  observedHandlers?: StepHandlers
  /** The revision this owner last wrote (0: nothing stored yet); every write expects it. */
  revision: number
  /** This owner's claim on the run, and when to renew it (epoch ms; 0 while a renewal is under way). */
  lease: Lease | undefined
  renewAt: number
  /** The renewal under way, which side effects wait for (see `leaseDue`). */
  renewing: Deferred.Deferred<void, RunStoreError | RunClaim.RunLeaseLost> | undefined
  /** Records the results a batch of calls has settled so far, so that a renewal's checkpoint holds them (see `processMany`). */
  checkpoint: (() => void) | undefined
  /** Approved calls handed to their handler without a result yet: stored if the run is interrupted (made on first use). */
  inFlight: Map<string, InFlightCall> | undefined
  /** A model step is under way (if interrupted, the step is taken again on recovery). */
  stepOpen: boolean
  /** The final (or suspended) state is stored: an interruption now has nothing to save. */
  ended: boolean
  /** The agent speaking after a handoff, when it is not the run's own (see `Handoff`). */
  agent: string | undefined
  /** Handoffs taken so far. */
  handoffs: number
  /** Tool-call ids of the run's history, for keys of calls that repeat an id (made after step 1, on first use). */
  callIds: CallKey.SeenIds | undefined
  /** Tool-call ids that handoff filters dropped from `messages` (they still count as used: see `CallKey`). */
  droppedCallIds: ReadonlyArray<string> | undefined
}

/** What a `Runner` binds once: the agent, its compiled rules and the services it runs on. */
interface Bound {
  readonly agent: Agent.Any
  readonly compiled: Solver.Compiled
  readonly toolkit: Toolkit.Resolved
  readonly names: ReadonlyArray<string>
  readonly definitions: ReadonlyArray<ToolDefinition>
  /** The system prompt: the agent's instructions and, if asked for, its rules in words. */
  readonly system: string
  /** How a typed output is asked for (response format, final-answer tool, instructions). */
  readonly output: FinalAnswer.Setup
  readonly model: LanguageModel["Service"]
  readonly approvals: Approval.Service
  readonly store: RunStore["Service"]
  /** How long a claim lasts (`RunClaim.LeaseDuration`). */
  readonly leaseMs: number
  readonly observer: EventObserver["Service"] | undefined
  readonly stepRunner: StepRunner["Service"] | undefined
  /** The agent that owns the run (the runner's): runs are stored under its name. */
  readonly owner: string
  /** This agent's handoff tools, by name (none: undefined). */
  readonly routes: ReadonlyMap<string, Handoff.Route> | undefined
  /** Every agent the runner's agent reaches through handoffs, by name (no handoffs: undefined). */
  readonly agents: ReadonlyMap<string, Bound> | undefined
}

/** One run's view: the bound services, plus how this run reports events and runs its steps. */
interface Context extends Bound {
  readonly emit: (event: AgentEvent) => void
  /** Someone consumes the events (a stream or an observer): text deltas should stream as they come. */
  readonly observed: boolean
  /** The run's own consumer (a stream, `onEvent`): sub-agent tools forward their events to it. */
  readonly onEvent: ((event: AgentEvent) => void) | undefined
  /** Backpressure from the events' consumer (`Options.ready`). */
  readonly ready: (() => Effect.Effect<void> | undefined) | undefined
}

// Fields listed one by one (not spread): an object literal of known shape is much cheaper to make per run.
const contextOf = (
  bound: Bound,
  options: Options | undefined,
  observer: EventObserver["Service"] | undefined,
  stepRunner: StepRunner["Service"] | undefined
): Context =>
  contextWith(
    bound,
    observer,
    stepRunner,
    combineEmitters(options?.onEvent, observer?.observe),
    options?.onEvent !== undefined || observer !== undefined,
    options?.onEvent,
    options?.ready
  )

/** The run's view after a handoff: the same run, events and services, with the target agent. */
const speaking = (ctx: Context, bound: Bound): Context => contextWith(bound, ctx.observer, ctx.stepRunner, ctx.emit, ctx.observed, ctx.onEvent, ctx.ready)

const contextWith = (
  bound: Bound,
  observer: EventObserver["Service"] | undefined,
  stepRunner: StepRunner["Service"] | undefined,
  emit: Context["emit"],
  observed: boolean,
  onEvent: Context["onEvent"],
  ready: Context["ready"]
): Context => ({
  agent: bound.agent,
  compiled: bound.compiled,
  toolkit: bound.toolkit,
  names: bound.names,
  definitions: bound.definitions,
  system: bound.system,
  output: bound.output,
  model: bound.model,
  approvals: bound.approvals,
  store: bound.store,
  leaseMs: bound.leaseMs,
  observer,
  stepRunner,
  owner: bound.owner,
  routes: bound.routes,
  agents: bound.agents,
  emit,
  observed,
  onEvent,
  ready
})

/**
 * Checks an agent's rules against its toolkit (each rule on its own, then the rule set as a whole: see
 * `ToolRuleAnalysis`), and its named tool choice against both. Fails with `InvalidToolRules` naming each
 * problem and the rules involved, or `InvalidToolChoice`.
 */
export const validateAgent = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>
): Effect.Effect<Solver.Compiled, ToolRule.InvalidToolRules | InvalidToolChoice | Handoff.InvalidHandoffs> =>
  agent.handoffs.length === 0
    ? validateOne(agent as unknown as Agent.Any)
    : // Every agent reachable through handoffs, each with its handoff tools (which its rules may name).
      Effect.flatMap(Effect.fromResult(Handoff.resolve(agent as unknown as Agent.Any)), (graph) =>
        Effect.map(
          Effect.forEach(graph.nodes.values(), (node) => validateOne(node.agent)),
          (compiled) => compiled[0]!
        )
      )

const validateOne = (agent: Agent.Any): Effect.Effect<Solver.Compiled, ToolRule.InvalidToolRules | InvalidToolChoice> =>
  Effect.suspend((): Effect.Effect<Solver.Compiled, ToolRule.InvalidToolRules | InvalidToolChoice> => {
    const cached = compiledRules.get(agent)
    if (cached !== undefined) return Effect.succeed(cached)
    const tools = new Map<string, Tool.Any>(Object.entries(agent.toolkit.tools))
    const rules = ToolRule.validate(agent.rules, tools)
    if (Result.isFailure(rules)) return Effect.fail(rules.failure)
    const compiled = Solver.compile(rules.success)
    const problems = ToolRuleAnalysis.analyze(agent.rules, compiled, agent.toolkit.names)
    if (problems.length > 0) return Effect.fail(new ToolRule.InvalidToolRules({ problems }))
    const choice = agent.toolChoice
    // An agent with outputMode "tool" may name its final-answer tool (the answer is then forced).
    const choosable = agent.output?.mode === "tool" ? [...agent.toolkit.names, agent.output.tool.name] : agent.toolkit.names
    const choiceProblem = ToolRuleAnalysis.toolChoiceProblem(choice, compiled, choosable)
    if (choiceProblem !== undefined && typeof choice === "object") {
      return Effect.fail(new InvalidToolChoice({ agent: agent.name, tool: choice.function, reason: choiceProblem }))
    }
    compiledRules.set(agent, compiled)
    return Effect.succeed(compiled)
  })

/** Validated and compiled rules per agent: rules are pure data, so this is done once per agent. */
const compiledRules = new WeakMap<Agent.Any, Solver.Compiled>()

const combineEmitters = (
  a: ((event: AgentEvent) => void) | undefined,
  b: ((event: AgentEvent) => void) | undefined
): ((event: AgentEvent) => void) =>
  a === undefined ? (b ?? (() => {})) : b === undefined ? a : (event) => (a(event), b(event))

/**
 * An instance of a Schema class made from fields the loop built itself from its own typed state, as the class's
 * decoder makes one: Effect 4's class constructor parses every field even with `disableChecks` (for a state,
 * every message, on every save: a quarter of a 20-step run), where Effect 3's `disableValidation` skipped it.
 */
const trusted = <P, A>(Class: new (props: P, options?: Schema.MakeOptions) => A, fields: P): A =>
  Object.assign(Object.create(Class.prototype as object) as A & object, fields)

/** A snapshot of the working state: arrays are copied, so later steps never change a saved state. */
const toState = (w: Working, agent: string, status: RunState["status"], extra?: { outcome?: RunOutcome; error?: string }): RunState =>
  trusted(RunState, {
    version: 1,
    runId: w.runId,
    agent,
    status,
    messages: w.messages.slice(),
    step: w.step,
    toolHistory: w.solver.history.slice(),
    ...(w.solver.lastOutput === undefined ? {} : { lastToolOutput: w.solver.lastOutput }),
    ...(w.solver.failed.length === 0 ? {} : { failedToolCalls: w.solver.failed.slice() }),
    toolChoiceUsed: w.toolChoiceUsed,
    queue: w.queue.slice(),
    executedInStep: w.executedInStep.slice(),
    pending: w.pending.slice(),
    usage: extra?.outcome?.usage ?? usageOf(w),
    ...extra,
    revision: w.revision + 1,
    ...(status === "running" && w.lease !== undefined ? { lease: w.lease } : {}),
    ...(w.inFlight === undefined || w.inFlight.size === 0 ? {} : { inFlight: [...w.inFlight.values()] }),
    ...(w.decisions.size === 0 ? {} : { decisions: [...w.decisions.values()] }),
    ...(w.handoffs === 0 ? {} : w.agent === undefined ? { handoffs: w.handoffs } : { currentAgent: w.agent, handoffs: w.handoffs }),
    ...(w.droppedCallIds === undefined ? {} : { handedOffCallIds: w.droppedCallIds })
  })

const fromState = (state: RunState): Working => ({
  runId: state.runId,
  messages: [...state.messages],
  step: state.step,
  solver: { history: [...state.toolHistory], lastOutput: state.lastToolOutput, failed: [...(state.failedToolCalls ?? [])] },
  toolChoiceUsed: state.toolChoiceUsed,
  choice: "auto",
  choiceReprompts: 0,
  // Every field set from the start: one object shape per run keeps the loop's property accesses monomorphic.
  outputReprompts: 0,
  suspensions: undefined,
  suspendHook: undefined,
  queue: [...state.queue],
  executedInStep: [...state.executedInStep],
  pending: [...state.pending],
  inputTokens: state.usage.inputTokens,
  outputTokens: state.usage.outputTokens,
  totalTokens: state.usage.totalTokens,
  decisions: new Map(state.decisions?.map((d) => [d.toolCallId, d])),
  lastText: lastAssistantText(state.messages),
  revision: revisionOf(state),
  lease: undefined,
  renewAt: 0,
  renewing: undefined,
  checkpoint: undefined,
  inFlight: state.inFlight === undefined ? undefined : new Map(state.inFlight.map((call) => [call.toolCallId, call])),
  stepOpen: false,
  ended: false,
  agent: state.currentAgent === state.agent ? undefined : state.currentAgent,
  handoffs: state.handoffs ?? 0,
  callIds: undefined,
  droppedCallIds: state.handedOffCallIds
})

const lastAssistantText = (messages: ReadonlyArray<Message.Message>): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message._tag === "AssistantMessage" && message.text.length > 0) return message.text
  }
  return ""
}

/**
 * Stores the run as this owner's next revision (compare-and-set): if another owner claimed the run since
 * (this owner's lease expired), the write fails with `RunLeaseLost` and the run goes no further.
 */
const save = (
  ctx: Context,
  w: Working,
  status: RunState["status"],
  extra?: { outcome?: RunOutcome; error?: string }
): Effect.Effect<void, RunStoreError | RunClaim.RunLeaseLost> =>
  Effect.matchEffect(ctx.store.compareAndSet(toState(w, ctx.owner, status, extra), w.revision), {
    onFailure: (error) =>
      Effect.fail(
        error._tag === "RunStoreConflict"
          ? new RunClaim.RunLeaseLost({ runId: w.runId, reason: `another owner wrote the run (expected revision ${error.expected}, found ${error.actual})` })
          : error
      ),
    onSuccess: (stored) => {
      w.revision = stored.revision ?? w.revision + 1
      return Effect.void
    }
  })

/** Claims the run: stores it as `running` under a fresh lease, expecting the revision it was read at. */
const claim = (ctx: Context, w: Working) => {
  const now = Date.now()
  w.lease = RunClaim.newLease(ctx.leaseMs, now)
  w.renewAt = now + ctx.leaseMs / 2
  return ctx.store.compareAndSet(toState(w, ctx.owner, "running"), w.revision).pipe(
    Effect.map((stored) => {
      w.revision = stored.revision ?? w.revision + 1
    })
  )
}

/** Runs the claimed run; if its fiber is interrupted, stores a resumable `interrupted` state first. */
const driveClaimed = (ctx: Context, w: Working): Rest =>
  Effect.onInterrupt(drive(ctx, w), () => (w.ended ? Effect.void : saveInterrupted(ctx, w)))

const saveInterrupted = (ctx: Context, w: Working) => {
  if (w.stepOpen) {
    // The model step did not finish: recovery takes it again.
    w.stepOpen = false
    w.step--
  }
  // Best effort: if the lease was lost meanwhile, the new owner's state stands.
  return Effect.ignore(save(ctx, w, "interrupted"))
}

/** Starts a new run. */
const start = (ctx: Context, input: RunInput): Effect.Effect<RunOutcome, LoopError> => {
  const begin = (runId: string, claimed: boolean): Effect.Effect<RunOutcome, LoopError> => {
    const messages: Array<Message.Message> = typeof input.input === "string" ? [Message.user(input.input)] : [...input.input]
    if (ctx.system.length > 0 && messages[0]?._tag !== "SystemMessage") messages.unshift(Message.system(ctx.system))
    const w: Working = {
      runId,
      messages,
      step: 0,
      solver: { history: [], lastOutput: undefined, failed: [] },
      toolChoiceUsed: false,
      choice: "auto",
      choiceReprompts: 0,
      outputReprompts: 0,
      suspensions: undefined,
      suspendHook: undefined,
      queue: [],
      executedInStep: [],
      pending: [],
      inputTokens: 0,
      outputTokens: 0,
      totalTokens: 0,
      decisions: new Map(),
      lastText: "",
      revision: 0,
      lease: undefined,
      renewAt: Infinity,
      renewing: undefined,
      checkpoint: undefined,
      inFlight: undefined,
      stepOpen: false,
      ended: false,
      agent: undefined,
      handoffs: 0,
      callIds: undefined,
      droppedCallIds: undefined
    }
    if (!claimed) {
      // A generated id is known to nobody else yet: the run is first stored when it suspends, ends, fails or
      // is interrupted (each a compare-and-set expecting no state), which keeps short runs at one write.
      ctx.emit({ _tag: "RunStarted", runId, resumed: false, agent: ctx.agent.name })
      return driveClaimed(ctx, w)
    }
    // The claim expects no state at all: a given id must be new (runs are never overwritten), atomically.
    return Effect.flatMap(
      Effect.catchTag(claim(ctx, w), "RunStoreConflict", () => Effect.fail(new RunAlreadyExists({ runId }))),
      () => {
        ctx.emit({ _tag: "RunStarted", runId, resumed: false, agent: ctx.agent.name })
        return driveClaimed(ctx, w)
      }
    )
  }
  return input.runId === undefined ? begin(`run_${randomUUID()}`, false) : begin(input.runId, true)
}

/** Resumes a stored run with decisions (see `resume`). */
const resumeIn = (
  owner: Context,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>
): Effect.Effect<RunOutcome, LoopError> =>
  Effect.gen(function* () {
    const state = yield* owner.store.load(runId).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(new RunNotFound({ runId })), onSome: Effect.succeed }))
    )
    if (state.agent !== owner.agent.name) {
      return yield* new RunNotResumable({ runId, reason: `it belongs to agent "${state.agent}", not "${owner.agent.name}"` })
    }
    // After a handoff, the run goes on with the agent it was handed to.
    const current = state.currentAgent === undefined || state.currentAgent === owner.agent.name ? undefined : owner.agents?.get(state.currentAgent)
    if (state.currentAgent !== undefined && state.currentAgent !== owner.agent.name && current === undefined) {
      return yield* new RunNotResumable({
        runId,
        reason: `a handoff left it with agent "${state.currentAgent}", which "${owner.agent.name}" does not hand off to (directly or through other agents)`
      })
    }
    const ctx = current === undefined ? owner : speaking(owner, current)
    const now = Date.now()
    const busy = RunClaim.claimable(state, now)
    if (busy === "finished") return yield* new RunNotResumable({ runId, reason: `its status is "${state.status}"` })
    if (busy !== undefined) return yield* busy
    // Decisions stored by an earlier claim (whose owner died) are validated again with the new ones.
    const invalid = Approval.validateDecisions(runId, state.pending, [...(state.decisions ?? []), ...decisions], now)
    if (invalid !== undefined) return yield* invalid
    // Distrust the stored state: every call it would run without asking must match its digest.
    const tampered = RunIntegrity.checkStoredCalls(state)
    if (tampered !== undefined) return yield* tampered
    const w = fromState(state)
    w.choice = ToolChoices.afterResume(ctx.agent)
    for (const decision of decisions) w.decisions.set(decision.toolCallId, decision)
    // Claim the run before doing anything: of two resumes, exactly one wins; the other runs nothing.
    yield* Effect.catchTag(claim(ctx, w), "RunStoreConflict", () =>
      Effect.fail(new RunClaim.RunBusy({ runId, reason: "another resume claimed it at the same time" }))
    )
    ctx.emit({ _tag: "RunStarted", runId, resumed: true, agent: ctx.agent.name })
    return yield* driveClaimed(ctx, w)
  })

/** The rest of a run, from wherever it is. */
type Rest = Effect.Effect<RunOutcome, ModelError | RunStoreError | RunClaim.RunLeaseLost>

/*
 * The loop is written as continuations rather than as a generator: each model step and each tool execution
 * is one Effect, and the bookkeeping between them runs synchronously in the continuation that receives the
 * result. This keeps the runtime's share of a step small (see docs/performance.md).
 */

const drive = (ctx: Context, w: Working): Rest => (w.queue.length > 0 ? processQueue(ctx, w) : nextStep(ctx, w))

/** The next model step, unless the step limit is reached. */
const nextStep = (ctx: Context, w: Working): Rest => {
  // The events' consumer is behind: wait for it before producing more.
  const wait = ctx.ready === undefined ? undefined : ctx.ready()
  return wait === undefined ? stepIfAllowed(ctx, w) : Effect.andThen(wait, Effect.suspend(() => stepIfAllowed(ctx, w)))
}

const stepIfAllowed = (ctx: Context, w: Working): Rest => {
  if (w.step >= ctx.agent.maxSteps) return finish(ctx, w, stopped(w, "max_steps", `reached the limit of ${ctx.agent.maxSteps} steps`))
  const due = leaseDue(ctx, w)
  return due === undefined ? modelStep(ctx, w) : Effect.andThen(due, Effect.suspend(() => modelStep(ctx, w)))
}

/**
 * The lease gate: every side effect of a claimed run (a model step, a tool call, sub-agent calls included, a
 * handoff and its events) passes here first; writes are compare-and-sets besides (`save`). Until half the
 * lease has passed it costs one clock read. After that, the lease is renewed first (a compare-and-set write,
 * which also checkpoints the run), so nothing starts on a lease that has lapsed: if another owner claimed the
 * run meanwhile, the renewal fails with `RunLeaseLost` and nothing more runs. `undefined`: go on at once.
 */
const leaseDue = (ctx: Context, w: Working): Effect.Effect<void, RunStoreError | RunClaim.RunLeaseLost> | undefined =>
  w.lease === undefined || Date.now() < w.renewAt ? undefined : renewLease(ctx, w)

const renewLease = (ctx: Context, w: Working): Effect.Effect<void, RunStoreError | RunClaim.RunLeaseLost> => {
  // One renewal at a time: concurrent calls wait for the one under way (`renewAt` is 0 meanwhile).
  if (w.renewing !== undefined) return Deferred.await(w.renewing)
  const renewing = Deferred.makeUnsafe<void, RunStoreError | RunClaim.RunLeaseLost>()
  w.renewing = renewing
  const now = Date.now()
  w.lease = RunClaim.renew(w.lease!, ctx.leaseMs, now)
  w.renewAt = 0
  // The results a batch of calls has settled so far are part of the checkpoint: a recovery does not run them again.
  if (w.checkpoint !== undefined) w.checkpoint()
  return save(ctx, w, "running").pipe(
    Effect.onExit((exit) => {
      w.renewing = undefined
      if (exit._tag === "Success") w.renewAt = now + ctx.leaseMs / 2
      return Deferred.done(renewing, exit)
    }),
    // A write slower than the lease itself: renew again rather than start on a lease that has lapsed.
    Effect.andThen(() => (Date.now() < w.lease!.expiresAt ? Effect.void : renewLease(ctx, w)))
  )
}

const modelStep = (ctx: Context, w: Working): Rest => {
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
  // Keep the run: persist it as it was before this step, so `resume` can retry the step.
  const onFailure = (error: ModelError): Rest => {
    w.stepOpen = false
    w.step--
    return Effect.andThen(save(ctx, w, "failed", { error: error.message }), Effect.fail(error))
  }
  const handlers = ctx.observed ? (w.observedHandlers ??= observedHandlers(ctx, w)) : (w.quietHandlers ??= quietHandlers(w))
  if (ctx.stepRunner === undefined && ctx.model.generateStep !== undefined && !ctx.observed) {
    // The common case: a whole step at once, folded in the continuation that receives it (`collectStep`
    // would add two Effects, for laziness only a durable runner needs).
    return Effect.matchEffect(ctx.model.generateStep(request), {
      onFailure,
      onSuccess: (parts) => afterModel(ctx, w, collectParts(parts, handlers))
    })
  }
  if (ctx.stepRunner === undefined && ctx.model.pushStep !== undefined) {
    // Someone watches and the model pushes its parts: run the step at once, collected in the continuation
    // (`collectStep` adds a `suspend` and a `map` per step, for laziness only a durable runner needs).
    const collector = new StepCollector(handlers)
    return Effect.matchEffect(
      ctx.model.pushStep(request, (parts) => {
        for (const part of parts) collector.add(part)
      }),
      { onFailure, onSuccess: () => afterModel(ctx, w, collector.result()) }
    )
  }
  const step = collectStep(ctx.model, request, handlers)
  return Effect.matchEffect(ctx.stepRunner === undefined ? step : ctx.stepRunner.modelStep(w.step, step), {
    onFailure,
    onSuccess: (response) => afterModel(ctx, w, response)
  })
}

/** Records a model step's answer, then runs its tool calls or decides how the run ends. */
const afterModel = (ctx: Context, w: Working, response: StepResponse): Rest => {
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
  if (satisfiesForcedChoice(ctx.agent.toolChoice, response.toolCalls)) w.toolChoiceUsed = true
  if (w.queue.length > 0) {
    w.choiceReprompts = 0
    return processQueue(ctx, w)
  }
  ctx.emit({ _tag: "StepFinished", runId: w.runId, step: w.step, finishReason: response.finishReason })
  if (response.finishReason === "length") {
    return finish(ctx, w, stopped(w, "max_tokens", "the model hit its output token limit"))
  }
  if (response.finishReason === "content_filter") {
    return finish(ctx, w, stopped(w, "content_filter", "the model's output was filtered"))
  }
  // A forced choice answered in text (no call, not even one the provider ran): re-prompt, a bounded number of times.
  if (response.transcript.length === 0 && ToolChoices.isForced(w.choice)) {
    if (!ToolChoices.mayReprompt(ctx.agent, w.choiceReprompts)) {
      return finish(ctx, w, stopped(w, "tool_choice", ToolChoices.stopDetail(w.choice, w.choiceReprompts + 1)))
    }
    w.choiceReprompts++
    w.messages.push(Message.user(ToolChoices.reprompt(w.choice)))
    return continueUnlessStopped(ctx, w, [])
  }
  // The model tried to finish early: it was re-prompted to call the required tools.
  if (exitHeld(ctx, w)) return continueUnlessStopped(ctx, w, [])
  if (ctx.agent.output !== undefined) return completeWithOutput(ctx, w, ctx.agent.output, response.text)
  return finish(ctx, w, { _tag: "Completed", runId: w.runId, reason: "end_turn", text: w.lastText, steps: w.step, usage: usageOf(w) })
}

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

/** The answer of an agent with a typed output: decoded, or returned to the model with the reason (see `Output`). */
const completeWithOutput = (ctx: Context, w: Working, spec: Output.Spec<unknown>, text: string): Rest => {
  const decoded = Output.decode(spec, text)
  if (Result.isSuccess(decoded)) {
    w.outputReprompts = 0
    return finish(ctx, w, { _tag: "Completed", runId: w.runId, reason: "end_turn", text: w.lastText, output: decoded.success, steps: w.step, usage: usageOf(w) })
  }
  if (w.outputReprompts >= spec.retries) {
    return finish(ctx, w, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, decoded.failure)))
  }
  w.outputReprompts++
  // In "tool" mode, point the model at the final-answer tool (when this step offered it).
  w.messages.push(Message.user(Output.reprompt(decoded.failure, w.choice === "none" ? undefined : ctx.output.toolName)))
  return continueUnlessStopped(ctx, w, [])
}

/** The step handlers when nobody observes the run: remote results still count in the rule history. */
const quietHandlers = (w: Working): StepHandlers => ({
  onRemoteResult: (result) => {
    recordTool(w, result.toolName, result.content, result.isError)
  }
})

/** What the loop does with a step's parts as they arrive, when someone observes the run. */
const observedHandlers = (ctx: Context, w: Working): StepHandlers => ({
  preferStreaming: true,
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

/**
 * A tool ran (here or at the provider). A success counts in the rule history; a failure only spends
 * max-count budget. `Solver.record` / `Solver.recordFailure`, appended in place.
 */
const recordTool = (w: Working, toolName: string, output: string, failed: boolean) => {
  if (failed) {
    w.solver.failed.push(toolName)
    return
  }
  w.solver.history.push(toolName)
  w.solver.lastOutput = output
}

/** Usage is summed as plain numbers; a `Usage` is built only when a state or outcome needs one. */
const addUsage = (w: Working, usage: Message.Usage) => {
  w.inputTokens += usage.inputTokens
  w.outputTokens += usage.outputTokens
  w.totalTokens += usage.totalTokens
}

const usageOf = (w: Working): Message.Usage =>
  trusted(Message.Usage, { inputTokens: w.inputTokens, outputTokens: w.outputTokens, totalTokens: w.totalTokens })

const satisfiesForcedChoice = (choice: ToolChoice, calls: ReadonlyArray<Message.ToolCall>): boolean =>
  choice === "required"
    ? calls.length > 0
    : typeof choice === "object" && calls.some((call) => call.name === choice.function)

/** What to do with one queued call. */
type Disposition =
  | { readonly _tag: "Result"; readonly execution: Toolkit.Execution }
  | {
      readonly _tag: "Execute"
      readonly args: Record<string, unknown>
      readonly approval?: { readonly decidedBy?: string; readonly reason?: string }
      /** Decisions for a sub-agent call's nested approvals, in the sub-agent's terms. */
      readonly nested?: ReadonlyArray<Approval.ApprovalDecision>
    }
  | { readonly _tag: "Pending" }
  /** A decision on a provider's approval request: answered with an ApprovalMessage, never executed here. */
  | { readonly _tag: "Decision"; readonly approved: boolean; readonly reason?: string }

/** `Approvals` must be asked before the call's disposition is known; `onApproved` is what approval leads to. */
interface Ask {
  readonly _tag: "Ask"
  readonly request: Approval.ApprovalRequest
  readonly onApproved: Extract<Disposition, { _tag: "Execute" | "Decision" }>
}

/**
 * Gives every queued call its result, unless some wait for approval (then the run suspends), and goes on.
 * With ordering rules, calls go one at a time (the next call's validity depends on this one's output) and
 * processing stops at the first pending approval; otherwise every call is disposed of first and the
 * executable ones run concurrently.
 */
const processQueue = (ctx: Context, w: Working): Rest =>
  w.queue.length === 1
    ? processSingle(ctx, w, w.queue[0]!)
    : Effect.flatMap(processMany(ctx, w), (suspended) => (suspended ? suspend(ctx, w) : afterTools(ctx, w)))

/** The common case: one call, no concurrency to arrange. */
const processSingle = (ctx: Context, w: Working, call: Message.ToolCall): Rest => {
  const disposition = dispose(ctx, w, call)
  return disposition._tag === "Ask"
    ? Effect.flatMap(decideApproval(ctx, w, call, disposition), (decided) => settleSingle(ctx, w, call, decided))
    : settleSingle(ctx, w, call, disposition)
}

const settleSingle = (ctx: Context, w: Working, call: Message.ToolCall, d: Disposition): Rest => {
  switch (d._tag) {
    case "Pending":
      return suspend(ctx, w)
    case "Execute":
      return runTool(ctx, w, call, d, (execution) => {
        if (!complete(ctx, w, call, execution, true)) return suspend(ctx, w)
        w.queue = []
        return afterTools(ctx, w)
      })
    case "Decision":
    case "Result":
      recordSettled(ctx, w, call, d)
      w.queue = []
      return afterTools(ctx, w)
  }
}

/** Several calls: returns true when the run must suspend. */
const processMany = (ctx: Context, w: Working): Effect.Effect<boolean, RunStoreError | RunClaim.RunLeaseLost> => {
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
  readonly dispositions: Array<Disposition | undefined> = []
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
const decided = (ctx: Context, w: Working, call: Message.ToolCall): Effect.Effect<Disposition> => {
  const disposition = dispose(ctx, w, call)
  return disposition._tag === "Ask" ? decideApproval(ctx, w, call, disposition) : Effect.succeed(disposition)
}

const settle = (ctx: Context, w: Working, call: Message.ToolCall, d: Exclude<Disposition, { _tag: "Pending" }>) =>
  d._tag === "Execute"
    ? runTool(ctx, w, call, d, (execution) => Effect.sync(() => complete(ctx, w, call, execution, true)))
    : Effect.sync(() => recordSettled(ctx, w, call, d))

/** Records a call that needed no execution: a decision on a provider's request, or a result given without running. */
const recordSettled = (ctx: Context, w: Working, call: Message.ToolCall, d: Extract<Disposition, { _tag: "Decision" | "Result" }>) =>
  d._tag === "Decision" ? answer(w, call, d) : complete(ctx, w, call, d.execution, false)

/** Answers a provider's approval request; the provider reports the call's result in a later step. */
const answer = (w: Working, call: Message.ToolCall, d: Extract<Disposition, { _tag: "Decision" }>) => {
  w.messages.push({
    _tag: "ApprovalMessage",
    toolCallId: call.id,
    toolName: call.name,
    approved: d.approved,
    ...(d.reason === undefined ? {} : { reason: d.reason })
  })
}

/** Arguments for events: the parsed object when the text is JSON, else the text itself. */
const parseLoosely = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Marks `CallContext`'s step qualifier as not looked up yet. */
const unknownStep = -1

/**
 * What a handler is told about its call. The step qualifier of its keys (see `CallKey`: a provider may reuse
 * an id on every step) is looked up when a key is first read, so a handler that reads none costs no lookup; a
 * read after later steps gets the key of its call's step (`CallKey.repeatedAt`). Only a read after the run
 * handed off (a background fiber outliving its call) could differ: read keys while the call runs.
 */
class CallContext implements Tool.HandlerContext {
  readonly runId: string
  approval?: { readonly decidedBy?: string; readonly reason?: string }
  readonly #w: Working
  readonly #step: number
  /** The messages when the call started: its step's assistant message is the last of them. */
  readonly #length: number
  #repeated: number | undefined = unknownStep
  constructor(
    w: Working,
    readonly toolCallId: string,
    readonly suspend: NonNullable<Tool.HandlerContext["suspend"]>,
    readonly decisions: Tool.HandlerContext["decisions"],
    readonly events: Tool.HandlerContext["events"]
  ) {
    this.runId = w.runId
    this.#w = w
    this.#step = w.step
    this.#length = w.messages.length
  }
  get repeatedStep(): number | undefined {
    if (this.#repeated === unknownStep) {
      const w = this.#w
      this.#repeated =
        this.#step === 1 ? undefined : CallKey.repeatedAt((w.callIds ??= CallKey.seenIds(w.droppedCallIds)), w.messages, this.#length, this.#step, this.toolCallId)
    }
    return this.#repeated
  }
  get idempotencyKey(): string {
    return CallKey.idempotencyKey(this.runId, this.toolCallId, this.repeatedStep)
  }
}

/** Executes a call and continues with its result (through the durability hooks, when there are any). */
const runTool = <A, E>(
  ctx: Context,
  w: Working,
  call: Message.ToolCall,
  d: Extract<Disposition, { _tag: "Execute" }>,
  then: (execution: Toolkit.Execution) => Effect.Effect<A, E>
): Effect.Effect<A, E | RunStoreError | RunClaim.RunLeaseLost> => {
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
  const run =
    ctx.stepRunner === undefined
      ? Toolkit.executeThen(ctx.toolkit, target, handlerContext, then)
      : Effect.flatMap(ctx.stepRunner.toolCall(w.step, call.id, Toolkit.execute(ctx.toolkit, target, handlerContext)), then)
  // No call starts on a lease that has lapsed (see `leaseDue`).
  const due = leaseDue(ctx, w)
  return due === undefined ? run : Effect.andThen(due, run)
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

/**
 * A sub-agent call with nested approvals: once any is decided (or expired), the call runs again with the
 * decisions (the sub-agent resumes and reports what is still pending); until then it waits.
 */
const settleNested = (ctx: Context, w: Working, call: Message.ToolCall, nested: ReadonlyArray<Approval.PendingApproval>): Disposition => {
  const now = Date.now()
  const due = nested.filter((p) => w.decisions.has(p.toolCallId) || (p.expiresAt !== undefined && p.expiresAt <= now))
  if (due.length === 0) return { _tag: "Pending" }
  const decisions: Array<Approval.ApprovalDecision> = []
  for (const p of due) {
    const decision = w.decisions.get(p.toolCallId)
    if (decision === undefined) continue
    w.decisions.delete(p.toolCallId)
    emitDecision(ctx, w, { id: p.toolCallId, name: p.toolName }, p.arguments, decision.approved, decision.reason, decision.decidedBy)
    decisions.push(Nested.lower(call.id, decision))
  }
  // All of the call's nested approvals leave the run: the sub-agent reports again those still undecided.
  w.pending = w.pending.filter((p) => p.via !== call.id)
  const args = Result.getOrElse(Toolkit.parseArguments(call.name, call.arguments), () => ({}) as Record<string, unknown>)
  return { _tag: "Execute", args, nested: decisions }
}

const denial = (reason: string | undefined): Toolkit.Execution =>
  Toolkit.errorResult("Denied", `Error: request to call tool denied. User reason: ${reason ?? "none given"}`)

/** Decides what to do with one call, synchronously; only a question to `Approvals` needs an Effect. */
const dispose = (ctx: Context, w: Working, call: Message.ToolCall): Disposition | Ask => {
  // An approved call cut off by an interruption runs again as approved (digests checked on resume).
  const inFlight = w.inFlight === undefined ? undefined : w.inFlight.get(call.id)
  if (inFlight !== undefined) return { _tag: "Execute", args: inFlight.arguments as Record<string, unknown>, ...(inFlight.approval === undefined ? {} : { approval: inFlight.approval }) }
  const nested = w.pending.length === 0 ? undefined : Nested.raisedBy(w.pending, call.id)
  if (nested !== undefined) return settleNested(ctx, w, call, nested)
  const waiting = w.pending.length === 0 ? undefined : w.pending.find((p) => p.toolCallId === call.id)
  if (waiting !== undefined) return settlePending(ctx, w, waiting, call.remote === true)
  if (call.remote === true) return disposeRemote(ctx, w, call)
  const tool = ctx.toolkit.tools.get(call.name)
  if (tool === undefined) return result(Toolkit.unknownTool(call.name, ctx.names))
  if (ctx.routes !== undefined && ctx.routes.has(call.name)) {
    const ignored = Handoff.superseded(ctx.routes, w.messages, call.id)
    if (ignored !== undefined) return result(ignored)
  }
  const parsed = Toolkit.parseArguments(call.name, call.arguments)
  if (Result.isFailure(parsed)) return result(parsed.failure)
  // Without rules every tool is allowed and nothing is prefilled: skip planning.
  const plan = ctx.compiled.rules.length === 0 ? undefined : Solver.plan(ctx.compiled, ctx.names, w.solver)
  const violation = plan === undefined ? undefined : Solver.violation(ctx.compiled, plan, call.name, w.solver)
  if (violation !== undefined) return result(Toolkit.errorResult("RuleViolation", violation))
  const refused = w.choice === "auto" ? undefined : ToolChoices.refusal(w.choice, call.name)
  if (refused !== undefined) return result(refused)
  const prefill = plan?.prefill.get(call.name)
  const args = prefill === undefined ? parsed.success : { ...parsed.success, ...prefill.args }
  if (ctx.observed) {
    ctx.emit({
      _tag: "ToolCalled",
      runId: w.runId,
      step: w.step,
      toolCallId: call.id,
      toolName: call.name,
      arguments: args,
      ...(prefill === undefined ? {} : { prefilledBy: prefill.source })
    })
  }
  const gated = ctx.compiled.requiresApproval.has(call.name) || tool.requiresApproval !== false
  if (!gated) return { _tag: "Execute", args }
  // Never ask a human about a call that would be rejected anyway.
  const decoded = Toolkit.decodeArguments(tool, args)
  if (Result.isFailure(decoded)) return result(decoded.failure)
  if (typeof tool.requiresApproval === "function" && !ctx.compiled.requiresApproval.has(call.name)) {
    if (!tool.requiresApproval(decoded.success as never)) return { _tag: "Execute", args }
  }
  return { _tag: "Ask", request: approvalRequest(w, call, args), onApproved: { _tag: "Execute", args } }
}

/**
 * A provider asks to run its own tool. The rules still apply (a forbidden call is denied without asking
 * anyone); otherwise `Approvals` decides, exactly as for our own tools.
 */
const disposeRemote = (ctx: Context, w: Working, call: Message.ToolCall): Disposition | Ask => {
  const args = Result.getOrElse(Toolkit.parseArguments(call.name, call.arguments), () => ({}) as Record<string, unknown>)
  ctx.emit({ _tag: "ToolCalled", runId: w.runId, step: w.step, toolCallId: call.id, toolName: call.name, arguments: args, remote: true })
  const plan = Solver.plan(ctx.compiled, [...ctx.names, call.name], w.solver)
  const violation = Solver.violation(ctx.compiled, plan, call.name, w.solver)
  if (violation !== undefined) {
    emitDecision(ctx, w, call, args, false, violation, "tool-rules")
    return { _tag: "Decision", approved: false, reason: violation }
  }
  return { _tag: "Ask", request: approvalRequest(w, call, args), onApproved: { _tag: "Decision", approved: true } }
}

/** What `Approvals` is asked about a call: bound to the run, the call, the tool and its arguments by one digest. */
const approvalRequest = (w: Working, call: Message.ToolCall, args: Record<string, unknown>): Approval.ApprovalRequest => ({
  runId: w.runId,
  step: w.step,
  toolCallId: call.id,
  toolName: call.name,
  arguments: args,
  argumentsDigest: Approval.argumentsDigest(args),
  callDigest: Approval.callDigest({ runId: w.runId, toolCallId: call.id, toolName: call.name, arguments: args, agent: w.agent }),
  ...(w.agent === undefined ? {} : { agent: w.agent })
})

/** Asks `Approvals` about one call. */
const decideApproval = (ctx: Context, w: Working, call: Message.ToolCall, ask: Ask): Effect.Effect<Disposition> =>
  Effect.map(ctx.approvals.decide(ask.request), (verdict): Disposition => {
    const { onApproved, request } = ask
    const args = request.arguments
    switch (verdict._tag) {
      case "Approved":
        emitDecision(ctx, w, call, args, true, verdict.reason, verdict.by)
        return onApproved._tag === "Execute" ? { ...onApproved, approval: approvalInfo(verdict.by, verdict.reason) } : onApproved
      case "Denied":
        emitDecision(ctx, w, call, args, false, verdict.reason, verdict.by)
        return onApproved._tag === "Execute" ? result(denial(verdict.reason)) : { _tag: "Decision", approved: false, reason: verdict.reason }
      case "Suspend": {
        const now = Date.now()
        const pending = new Approval.PendingApproval({
          approvalId: Approval.newApprovalId(),
          ...request,
          requestedAt: now,
          ...(verdict.expiresIn === undefined ? {} : { expiresAt: now + toMillis(verdict.expiresIn) })
        })
        w.pending.push(pending)
        ctx.emit({ _tag: "ApprovalRequested", runId: w.runId, step: w.step, approval: pending })
        return { _tag: "Pending" }
      }
    }
  })

const toMillis = (input: Duration.Input): number => Math.max(0, Duration.toMillis(input))

const result = (execution: Toolkit.Execution): Disposition => ({ _tag: "Result", execution })

/** A call waiting for approval: settle it with the decision given to `resume`, or deny it once expired. */
const settlePending = (ctx: Context, w: Working, waiting: Approval.PendingApproval, remote: boolean): Disposition => {
  const call = { id: waiting.toolCallId, name: waiting.toolName }
  const decision = w.decisions.get(waiting.toolCallId)
  const expired = decision === undefined && waiting.expiresAt !== undefined && waiting.expiresAt <= Date.now()
  if (decision === undefined && !expired) return { _tag: "Pending" }
  w.pending = w.pending.filter((p) => p !== waiting)
  w.decisions.delete(waiting.toolCallId)
  if (decision === undefined) {
    const reason = "the approval expired before anyone decided"
    emitDecision(ctx, w, call, waiting.arguments, false, reason, "expiry")
    return remote ? { _tag: "Decision", approved: false, reason } : result(denial(reason))
  }
  emitDecision(ctx, w, call, waiting.arguments, decision.approved, decision.reason, decision.decidedBy)
  if (remote) return { _tag: "Decision", approved: decision.approved, ...(decision.reason === undefined ? {} : { reason: decision.reason }) }
  if (!decision.approved) return result(denial(decision.reason))
  const args = waiting.arguments as Record<string, unknown>
  const approval = approvalInfo(decision.decidedBy, decision.reason)
  // Consumed from `pending`, so remembered as in flight until its result is recorded.
  w.inFlight ??= new Map()
  w.inFlight.set(
    waiting.toolCallId,
    new InFlightCall(
      {
        toolCallId: waiting.toolCallId,
        toolName: waiting.toolName,
        arguments: args,
        argumentsDigest: waiting.argumentsDigest,
        ...(waiting.callDigest === undefined ? {} : { callDigest: waiting.callDigest }),
        approval
      },
      { disableChecks: true }
    )
  )
  return { _tag: "Execute", args, approval }
}

const approvalInfo = (decidedBy: string | undefined, reason: string | undefined) => ({
  ...(decidedBy === undefined ? {} : { decidedBy }),
  ...(reason === undefined ? {} : { reason })
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

/** After every call of a step has its result: end on a terminal tool (unless required tools are uncalled), or go on. */
const afterTools = (ctx: Context, w: Working): Rest => {
  if (ctx.observed) ctx.emit({ _tag: "StepFinished", runId: w.runId, step: w.step, finishReason: "tool_calls" })
  const executed = w.executedInStep
  w.executedInStep = []
  if (ctx.output.toolName !== undefined) {
    const ended = afterFinalAnswer(ctx, w, ctx.output.toolName, executed)
    if (ended !== undefined) return ended
  }
  if (ctx.routes !== undefined) {
    const taken = Handoff.taken(ctx.routes, executed, w.messages)
    if (taken !== undefined) return handOff(ctx, w, taken, executed)
  }
  // Required-before-exit overrides a terminal tool (the model is told why the run goes on).
  if (ctx.compiled.rules.length > 0 && executed.some((name) => Solver.continuation(ctx.compiled, name) === "stop") && !exitHeld(ctx, w)) {
    return finish(ctx, w, { _tag: "Completed", runId: w.runId, reason: "terminal_tool", text: w.lastText, steps: w.step, usage: usageOf(w) })
  }
  return continueUnlessStopped(ctx, w, executed)
}

/**
 * "tool" mode: a valid final-answer call completes the run (unless required tools are still uncalled); an
 * invalid one (its error result already tells the model why) spends one of the output retries.
 */
const afterFinalAnswer = (ctx: Context, w: Working, toolName: string, executed: ReadonlyArray<string>): Rest | undefined => {
  const spec = ctx.agent.output!
  const verdict = FinalAnswer.verdict(spec, toolName, w.messages)
  if (verdict === undefined) return undefined
  if (verdict._tag === "Accepted") {
    // As for a text answer: the run may not end before the required tools are called.
    if (exitHeld(ctx, w)) return continueUnlessStopped(ctx, w, executed)
    w.outputReprompts = 0
    w.lastText = verdict.text
    return finish(ctx, w, { _tag: "Completed", runId: w.runId, reason: "end_turn", text: verdict.text, output: verdict.output, steps: w.step, usage: usageOf(w) })
  }
  if (w.outputReprompts >= spec.retries) return finish(ctx, w, stopped(w, "invalid_output", Output.stopDetail(w.outputReprompts + 1, verdict.reason)))
  w.outputReprompts++
  return undefined
}

/**
 * A handoff call ran: the conversation goes on with the target (see `Handoff`). Its rule history starts
 * fresh, its forced tool choice applies anew, and the history is passed through the handoff's filter.
 */
const handOff = (ctx: Context, w: Working, taken: { readonly route: Handoff.Route; readonly toolCallId: string }, executed: ReadonlyArray<string>): Rest => {
  // The target speaks from here on: not on a lease that has lapsed (see `leaseDue`).
  const due = leaseDue(ctx, w)
  return due === undefined ? handOffNow(ctx, w, taken, executed) : Effect.andThen(due, Effect.suspend(() => handOffNow(ctx, w, taken, executed)))
}

const handOffNow = (ctx: Context, w: Working, taken: { readonly route: Handoff.Route; readonly toolCallId: string }, executed: ReadonlyArray<string>): Rest => {
  const target = ctx.agents!.get(taken.route.to)!
  const names = `${ctx.agent.name} -> ${target.agent.name}`
  if (w.handoffs >= ctx.agent.maxHandoffs) {
    return finish(ctx, w, stopped(w, "max_handoffs", `the run reached its limit of ${ctx.agent.maxHandoffs} handoff(s); ${names} was not taken`))
  }
  const messages = Handoff.transfer(w.messages, ctx, target, taken.route.inputFilter)
  if (Result.isFailure(messages)) return finish(ctx, w, stopped(w, "handoff_failed", `${names}: ${messages.failure}`))
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
  return continueUnlessStopped(speaking(ctx, target), w, executed)
}

/** Checks the agent's stop conditions (if any), then takes the next step. */
const continueUnlessStopped = (ctx: Context, w: Working, executed: ReadonlyArray<string>): Rest =>
  ctx.agent.stopWhen.length === 0
    ? nextStep(ctx, w)
    : Effect.flatMap(evaluateStopConditions(ctx, w, executed), (stop) => (stop === undefined ? nextStep(ctx, w) : finish(ctx, w, stop)))

const evaluateStopConditions = (ctx: Context, w: Working, executed: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const state = toState(w, ctx.owner, "running")
    for (const condition of ctx.agent.stopWhen) {
      if (yield* checkStop(condition, { state, executed })) {
        return stopped(w, "stop_condition", condition.description)
      }
    }
    return undefined
  })

const stopped = (w: Working, reason: StopReason, detail: string): RunOutcome => ({
  _tag: "Stopped",
  runId: w.runId,
  reason,
  detail,
  text: w.lastText,
  steps: w.step,
  usage: usageOf(w)
})

const suspend = (ctx: Context, w: Working): Rest =>
  finish(ctx, w, { _tag: "Suspended", runId: w.runId, pending: w.pending, steps: w.step, usage: usageOf(w) })

/** Persists the final (or suspended) state first, then announces the outcome. */
const finish = (ctx: Context, w: Working, answer: RunOutcome): Rest => {
  // With handoffs, the answer names its agent: its output schema is the one that decoded `output`.
  const outcome: RunOutcome = answer._tag === "Completed" && ctx.agents !== undefined ? { ...answer, agent: w.agent ?? ctx.owner } : answer
  return Effect.map(save(ctx, w, outcome._tag === "Suspended" ? "suspended" : outcome._tag === "Completed" ? "completed" : "stopped", { outcome }), () => {
    w.ended = true
    ctx.emit({ _tag: "RunFinished", runId: w.runId, outcome })
    return outcome
  })
}

/**
 * What a runner binds once (the agent, its compiled rules, resolved toolkit, system prompt and services) and
 * one run's view of it (how the run reports its events). Validation happens here, when a runner is built:
 * rules, tool choice, handoffs, typed output and handlers fail then, never during a run.
 *
 * @internal
 */
import { Effect, Result } from "effect"
import type { AgentEvent, EventObserver } from "../../AgentEvent.js"
import type * as Approval from "../../Approval.js"
import * as Handoff from "../../Handoff.js"
import type { LanguageModel, ToolDefinition } from "../../LanguageModel.js"
import type * as Output from "../../Output.js"
import type { RunStore } from "../../RunStore.js"
import type { StepRunner } from "../../StepRunner.js"
import type * as Tool from "../../Tool.js"
import * as Toolkit from "../../Toolkit.js"
import * as ToolRule from "../../ToolRule.js"
import * as ToolRuleAnalysis from "../../ToolRuleAnalysis.js"
import * as Solver from "../../ToolRuleSolver.js"
import type * as Agent from "../agent.js"
import { InvalidToolChoice } from "../agent.js"
import * as FinalAnswer from "../finalAnswer.js"
import type { Options } from "./types.js"

/** The services a runner binds once, shared by every agent it runs. */
export interface Services extends Pick<Bound, "model" | "approvals" | "store" | "leaseMs" | "observer" | "stepRunner"> {
  /** How the model takes a typed output, as it says (`LanguageModel.outputMode`). */
  readonly outputMode: LanguageModel["Service"]["outputMode"]
}

/** Binds an agent, and every agent it reaches through handoffs (see `Handoff`); returns the runner's own. */
export const bindAgent = (agent: Agent.Any, services: Services): Effect.Effect<Bound, BindError, Tool.Handler<string>> =>
  agent.handoffs.length === 0 ? bind(agent, agent, services, agent.name, undefined, undefined) : bindHandoffGraph(agent, services)

/** Why a runner cannot be built. */
export type BindError = ToolRule.InvalidToolRules | InvalidToolChoice | Output.InvalidOutput | Toolkit.MissingHandlers | Handoff.InvalidHandoffs

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

const bindHandoffGraph = (root: Agent.Any, services: Services) =>
  Effect.gen(function* () {
    const graph = yield* Effect.fromResult(Handoff.resolve(root))
    const agents = new Map<string, Bound>()
    for (const [name, node] of graph.nodes) {
      agents.set(name, yield* bind(node.agent, node.source, services, root.name, node.routes.size === 0 ? undefined : node.routes, agents, node))
    }
    return agents.get(root.name)!
  })

/** What a `Runner` binds once: the agent, its compiled rules and the services it runs on. */
export interface Bound {
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
export interface Context extends Bound {
  readonly emit: (event: AgentEvent) => void
  /** Someone consumes the events (a stream or an observer): text deltas should stream as they come. */
  readonly observed: boolean
  /** The run's own consumer (a stream, `onEvent`): sub-agent tools forward their events to it. */
  readonly onEvent: ((event: AgentEvent) => void) | undefined
  /** Backpressure from the events' consumer (`Options.ready`). */
  readonly ready: (() => Effect.Effect<void> | undefined) | undefined
}

// Fields listed one by one (not spread): an object literal of known shape is much cheaper to make per run.
export const contextOf = (
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
export const speaking = (ctx: Context, bound: Bound): Context => contextWith(bound, ctx.observer, ctx.stepRunner, ctx.emit, ctx.observed, ctx.onEvent, ctx.ready)

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

export const validateOne = (agent: Agent.Any): Effect.Effect<Solver.Compiled, ToolRule.InvalidToolRules | InvalidToolChoice> =>
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

/**
 * `AgentBackend`: what applications program against. The same `run`/`resume` calls, event stream and typed
 * outcome work whichever backend runs the loop: swap the Layer to swap the backend.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Option, Schema, Stream } from "effect"
import type * as Agent from "./internal/agent.js"
import type { AgentEvent } from "./AgentEvent.js"
import type * as Approval from "./Approval.js"
import * as Loop from "./Loop.js"
import type * as Output from "./Output.js"
import type { RunOutcome, RunState, RunStateError } from "./RunState.js"
import type { RunStateTampered } from "./RunIntegrity.js"
import { RunStore, type RunStoreError } from "./RunStore.js"
import type * as Tool from "./Tool.js"

/** What a backend can do. Asking for a capability a backend lacks fails before any request is made. */
export interface Capabilities {
  /** Tools defined and executed in this process (our toolkit's handlers). */
  readonly clientTools: boolean
  /** Human-in-the-loop approvals with suspend and resume. */
  readonly approvals: boolean
  /** The nine tool-rule kinds. */
  readonly toolRules: boolean
  /** Token-level text deltas as they are produced. */
  readonly streaming: boolean
}

const capabilityNames = ["clientTools", "approvals", "toolRules", "streaming"] as const satisfies ReadonlyArray<keyof Capabilities>

/** The backend cannot do what the agent asks of it (e.g. tool rules on a backend without them). */
export class UnsupportedCapability extends Schema.TaggedError<UnsupportedCapability>()("UnsupportedCapability", {
  backend: Schema.String,
  capability: Schema.Literals(capabilityNames),
  reason: Schema.String
}) {
  override get message(): string {
    return `Backend ${this.backend} does not support ${this.capability}: ${this.reason}`
  }
}

export type AgentError = Loop.LoopError | UnsupportedCapability

export interface Service {
  readonly name: string
  readonly capabilities: Capabilities
  /** Runs new input; the stream ends with `RunFinished`. */
  readonly stream: (input: Loop.RunInput) => Stream.Stream<AgentEvent, AgentError>
  /**
   * Runs new input to its outcome, without materialising the event stream. `options.onEvent` (plain
   * callbacks) receives every event synchronously, in order: the cheapest way to watch a run; see
   * `RunEvents` for an async iterator.
   */
  readonly run: (input: Loop.RunInput, options?: Loop.Options) => Effect.Effect<RunOutcome, AgentError>
  readonly resumeStream: (
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>
  ) => Stream.Stream<AgentEvent, AgentError>
  readonly resume: (
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>,
    options?: Loop.Options
  ) => Effect.Effect<RunOutcome, AgentError>
  /** The stored state of a run (e.g. to list its pending approvals from another process). */
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunState>, RunStoreError | RunStateError | RunStateTampered>
}

export class AgentBackend extends Context.Service<AgentBackend, Service>()("@agentloop/core/AgentBackend") {}

export const localCapabilities: Capabilities = { clientTools: true, approvals: true, toolRules: true, streaming: true }

/** The parts of an agent definition that decide what it needs from a backend. */
export interface AgentNeeds {
  readonly toolkit: { readonly tools: Readonly<Record<string, Tool.Any>> }
  readonly rules: Agent.Any["rules"]
  /** A typed output in `"tool"` mode needs client-side tools (its final-answer tool runs here). */
  readonly output?: { readonly mode: Output.Mode; readonly tool: Tool.Any } | undefined
  readonly handoffs?: ReadonlyArray<unknown>
}

/** What an agent definition needs from a backend, and why. */
export const requiredCapabilities = (agent: AgentNeeds): ReadonlyArray<{ readonly capability: keyof Capabilities; readonly reason: string }> => {
  const needs: Array<{ capability: keyof Capabilities; reason: string }> = []
  const tools = Object.values(agent.toolkit.tools)
  if (tools.length > 0) needs.push({ capability: "clientTools", reason: `the agent's toolkit has ${tools.map((t) => t.name).join(", ")}` })
  // A handoff is a tool this process runs (the transfer itself is the local loop's).
  else if ((agent.handoffs?.length ?? 0) > 0) needs.push({ capability: "clientTools", reason: "the agent has handoffs" })
  const gated = tools.filter((t) => t.requiresApproval !== false).map((t) => t.name)
  const approvalRules = agent.rules.filter((r) => r._tag === "RequiresApproval").map((r) => r.tool)
  if (gated.length + approvalRules.length > 0) {
    needs.push({ capability: "approvals", reason: `${[...new Set([...gated, ...approvalRules])].join(", ")} need approval` })
  }
  if (agent.output?.mode === "tool" && !needs.some((need) => need.capability === "clientTools")) {
    needs.push({ capability: "clientTools", reason: `the agent's typed output uses the ${agent.output.tool.name} tool (outputMode "tool")` })
  }
  const rules = agent.rules.filter((r) => r._tag !== "RequiresApproval")
  if (rules.length > 0) needs.push({ capability: "toolRules", reason: `the agent has ${rules.length} tool rule(s)` })
  return needs
}

/** Fails with `UnsupportedCapability` for the first thing the agent needs that the backend lacks. */
export const checkCapabilities = (
  backend: string,
  capabilities: Capabilities,
  agent: AgentNeeds
): Effect.Effect<void, UnsupportedCapability> => {
  const missing = requiredCapabilities(agent).find((need) => !capabilities[need.capability])
  return missing === undefined
    ? Effect.void
    : Effect.fail(new UnsupportedCapability({ backend, capability: missing.capability, reason: missing.reason }))
}

/** Fails with `UnsupportedCapability` unless the backend in context has every named capability. */
export const requireCapabilities = (
  ...capabilities: ReadonlyArray<keyof Capabilities>
): Effect.Effect<Service, UnsupportedCapability, AgentBackend> =>
  Effect.flatMap(AgentBackend, (backend) => {
    const missing = capabilities.find((c) => !backend.capabilities[c])
    return missing === undefined
      ? Effect.succeed(backend)
      : Effect.fail(new UnsupportedCapability({ backend: backend.name, capability: missing, reason: "the application requires it" }))
  })

/**
 * The local backend: the agent loop in this process over the `LanguageModel` service. Tool rules are
 * validated against the toolkit when the layer is built, so an unsatisfiable rule set fails early.
 */
export const layerLocal = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>
): Layer.Layer<AgentBackend, Loop.LoopError, Loop.Requirements<Tools> | R> =>
  layerWith(agent, { name: `local:${agent.name}`, capabilities: localCapabilities }) as Layer.Layer<
    AgentBackend,
    Loop.LoopError,
    Loop.Requirements<Tools> | R
  >

/**
 * The loop over whatever `LanguageModel` is provided (a hosted API's adapter), declared with that backend's
 * capabilities: an agent that needs something the backend lacks fails when the layer is built, before any
 * request is made.
 */
export const layerWith = <Tools extends Record<string, Tool.Any>, A = unknown, R = never>(
  agent: Agent.Agent<Tools, A, R>,
  backend: { readonly name: string; readonly capabilities: Capabilities }
): Layer.Layer<AgentBackend, AgentError, Loop.Requirements<Tools> | R> =>
  Layer.effect(
    AgentBackend,
    Effect.gen(function* () {
      yield* checkCapabilities(backend.name, backend.capabilities, agent)
      // Validates the rules (failing the layer on invalid ones) and looks up the services and handlers
      // once, so a run pays only for itself.
      const runner = yield* Loop.makeRunner(agent)
      const store = yield* RunStore
      return {
        name: backend.name,
        capabilities: backend.capabilities,
        run: (input, options) => runner.run(input, options),
        stream: (input) => runner.stream(input),
        resume: (runId, decisions, options) => runner.resume(runId, decisions, options),
        resumeStream: (runId, decisions) => runner.resumeStream(runId, decisions),
        getRun: (runId) => store.load(runId)
      } satisfies Service
    })
  )

/** Runs a stream from `AgentBackend` and returns the outcome it ended with. */
export const outcomeOf = Loop.outcomeOf


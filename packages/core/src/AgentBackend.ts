/**
 * `AgentBackend`: what applications program against. The same `run`/`resume` calls, event stream and typed
 * outcome work whichever backend runs the loop: swap the Layer to swap the backend.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer, type Option, Stream } from "effect"
import type * as Agent from "./Agent.js"
import type { AgentEvent } from "./AgentEvent.js"
import type * as Approval from "./Approval.js"
import * as Loop from "./Loop.js"
import type { RunOutcome, RunState, RunStateError } from "./RunState.js"
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

/** The backend cannot do what the agent asks of it (e.g. tool rules on a backend without them). */
export class UnsupportedCapability extends Data.TaggedError("UnsupportedCapability")<{
  readonly backend: string
  readonly capability: keyof Capabilities
  readonly reason: string
}> {
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
  /** Runs new input to its outcome, without materialising the event stream. */
  readonly run: (input: Loop.RunInput) => Effect.Effect<RunOutcome, AgentError>
  readonly resumeStream: (
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>
  ) => Stream.Stream<AgentEvent, AgentError>
  readonly resume: (runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>) => Effect.Effect<RunOutcome, AgentError>
  /** The stored state of a run (e.g. to list its pending approvals from another process). */
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunState>, RunStoreError | RunStateError>
}

export class AgentBackend extends Context.Tag("@agentloop/core/AgentBackend")<AgentBackend, Service>() {}

export const localCapabilities: Capabilities = { clientTools: true, approvals: true, toolRules: true, streaming: true }

/**
 * The local backend: the agent loop in this process over the `LanguageModel` service. Tool rules are
 * validated against the toolkit when the layer is built, so an unsatisfiable rule set fails early.
 */
export const layerLocal = <Tools extends Record<string, Tool.Any>>(
  agent: Agent.Agent<Tools>
): Layer.Layer<AgentBackend, Loop.LoopError, Loop.Requirements<Tools>> =>
  Layer.effect(
    AgentBackend,
    Effect.gen(function* () {
      const context = yield* Effect.context<Loop.Requirements<Tools>>()
      // Fail at build time on invalid rules, through the same validation the loop uses.
      yield* Loop.validateAgent(agent)
      const store = yield* RunStore
      const provide = <A, E>(effect: Effect.Effect<A, E, Loop.Requirements<Tools>>) => Effect.provide(effect, context)
      return {
        name: `local:${agent.name}`,
        capabilities: localCapabilities,
        run: (input) => provide(Loop.run(agent, input)),
        stream: (input) => Stream.provideContext(Loop.stream(agent, input), context),
        resume: (runId, decisions) => provide(Loop.resume(agent, runId, decisions)),
        resumeStream: (runId, decisions) => Stream.provideContext(Loop.resumeStream(agent, runId, decisions), context),
        getRun: (runId) => store.load(runId)
      } satisfies Service
    })
  )

/** Runs a stream from `AgentBackend` and returns the outcome it ended with. */
export const outcomeOf = Loop.outcomeOf


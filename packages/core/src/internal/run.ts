/**
 * Running an agent in one call (`Agent.run`, `Agent.runPromise`, and their `resume` twins): the layers a run
 * needs, each given as an option, taken from the context, or defaulted (approvals suspend, runs kept in this
 * process's memory).
 */
import { Context, Effect, Layer } from "effect"
import type * as Agent from "./agent.js"
import type { AgentEvent } from "../AgentEvent.js"
import * as Approval from "../Approval.js"
import type { LanguageModel } from "../LanguageModel.js"
import * as Loop from "../Loop.js"
import type { RunOutcome } from "../RunState.js"
import * as RunStore from "../RunStore.js"
import type * as Tool from "../Tool.js"
import type * as Toolkit from "../Toolkit.js"

/**
 * A tool's handler as `run` takes it: an Effect (as `toolkit.toLayer` takes it) or a Promise. A rejected
 * Promise is an unexpected failure of that call: the model sees an error result naming its message.
 */
export type Handler<T extends Tool.Any> = (
  params: Tool.Params<T>,
  context: Tool.HandlerContext
) => Effect.Effect<Tool.SuccessOf<T>, Tool.FailureOf<T>> | PromiseLike<Tool.SuccessOf<T>>

export type Handlers<Tools extends Record<string, Tool.Any>> = { readonly [K in keyof Tools]: Handler<Tools[K]> }

/** What a one-call run is given. Layers may need services and fail: the run's Effect then does too. */
export interface RunOptions<Tools extends Record<string, Tool.Any>> {
  /** The model (e.g. `ChatModel.layerFetch(...)`, a `ScriptedModel`'s `layer`). Absent: taken from the context. */
  readonly model?: Layer.Layer<LanguageModel, any, any>
  /** The toolkit's handlers, as functions or as `toolkit.toLayer(...)`. Absent: taken from the context. */
  readonly handlers?: Handlers<Tools> | Layer.Layer<Toolkit.HandlerIds<Tools>, any, any>
  /** Absent: the context's `Approvals`, else `Approval.layerSuspend` (a gated call suspends the run). */
  readonly approvals?: Layer.Layer<Approval.Approvals, any, any>
  /**
   * Absent: the context's `RunStore`, else this process's memory (one store shared by every one-call run
   * without a store, so a run suspended by one call resumes in the next; the last 1,000 finished runs are kept).
   */
  readonly store?: Layer.Layer<RunStore.RunStore, any, any>
  /** Called synchronously with every event, in order (e.g. `(event) => console.log(AgentEvent.format(event))`). */
  readonly onEvent?: (event: AgentEvent) => void
}

/** `RunOptions` for code outside Effect: the model and handlers are required, and no layer may need a service. */
export interface PromiseOptions<Tools extends Record<string, Tool.Any>> extends RunOptions<Tools> {
  readonly model: Layer.Layer<LanguageModel, any, never>
  readonly handlers: Handlers<Tools> | Layer.Layer<Toolkit.HandlerIds<Tools>, any, never>
  readonly approvals?: Layer.Layer<Approval.Approvals, any, never>
  readonly store?: Layer.Layer<RunStore.RunStore, any, never>
  /** Aborting interrupts the run (it is stored as resumable) and rejects the Promise. */
  readonly signal?: AbortSignal
}

type LayerError<L> = L extends Layer.Layer<infer _ROut, infer E, infer _RIn> ? E : never
type LayerServices<L> = L extends Layer.Layer<infer _ROut, infer _E, infer R> ? R : never

/** The errors of the layers given in `O`. */
export type OptionsError<O> = LayerError<O[keyof O]>

/** The services a run with options `O` needs from its context: what the given layers need, and what `O` leaves out. */
export type OptionsServices<Tools extends Record<string, Tool.Any>, O> =
  | LayerServices<O[keyof O]>
  | (O extends { readonly model: Layer.Any } ? never : LanguageModel)
  | (O extends { readonly handlers: object } ? never : Toolkit.HandlerIds<Tools>)

/** Built once, on first use: the store of one-call runs given none (see `RunOptions.store`). */
let processStore: RunStore.Service | undefined
const processStoreLayer = Layer.sync(RunStore.RunStore, () => {
  processStore ??= Effect.runSync(Effect.provide(RunStore.RunStore, RunStore.layerMemoryBounded({ keepFinished: 1000 })))
  return processStore
})

/** Handlers that may return Promises, as the toolkit takes them (Effects only). */
const liftHandlers = <Tools extends Record<string, Tool.Any>>(handlers: Handlers<Tools>): Toolkit.Handlers<Tools> => {
  const lifted: Record<string, Tool.AnyHandlerFn> = {}
  for (const [name, handler] of Object.entries(handlers as Record<string, Handler<Tool.Any>>)) {
    lifted[name] = (params, context) => {
      const result = handler(params, context)
      return Effect.isEffect(result) ? result : Effect.promise(() => result)
    }
  }
  return lifted as Toolkit.Handlers<Tools>
}

/** The layer of everything `options` gives, and the defaults for what neither it nor `context` has. */
const layerOf = <Tools extends Record<string, Tool.Any>>(
  agent: Agent.Agent<Tools, any, any>,
  options: RunOptions<Tools>,
  context: Context.Context<never>
): Layer.Layer<any, any, any> => {
  const layers: Array<Layer.Layer<any, any, any>> = []
  if (options.model !== undefined) layers.push(options.model)
  if (options.handlers !== undefined) {
    layers.push(Layer.isLayer(options.handlers) ? options.handlers : agent.toolkit.toLayer(liftHandlers(options.handlers as Handlers<Tools>)))
  }
  if (options.approvals !== undefined) layers.push(options.approvals)
  else if (Context.getOrUndefined(context, Approval.Approvals) === undefined) layers.push(Approval.layerSuspend)
  if (options.store !== undefined) layers.push(options.store)
  else if (Context.getOrUndefined(context, RunStore.RunStore) === undefined) layers.push(processStoreLayer)
  return Layer.mergeAll(Layer.empty, ...layers)
}

const withLayers = <Tools extends Record<string, Tool.Any>, A, E>(
  agent: Agent.Agent<Tools, any, any>,
  options: RunOptions<Tools>,
  run: (loopOptions: Loop.Options) => Effect.Effect<A, E, any>
): Effect.Effect<A, any, any> =>
  Effect.contextWith((context: Context.Context<never>) =>
    run(options.onEvent === undefined ? {} : { onEvent: options.onEvent }).pipe(Effect.provide(layerOf(agent, options, context)))
  )

/**
 * Runs an agent on `input` to its outcome: `Completed`, `Suspended` (a gated call waits for a decision:
 * `Agent.resume`) or `Stopped`. Every layer the run needs comes from `options`, else from the context, else
 * a default: approvals suspend, runs are kept in this process's memory.
 */
export const run = <Tools extends Record<string, Tool.Any>, A, R, O extends RunOptions<Tools> & { readonly runId?: string } = {}>(
  agent: Agent.Agent<Tools, A, R>,
  input: Loop.RunInput["input"],
  options?: O & RunOptions<Tools> & { readonly runId?: string }
): Effect.Effect<RunOutcome, Loop.LoopError | OptionsError<O>, R | OptionsServices<Tools, O>> =>
  withLayers(agent, options ?? {}, (loopOptions) =>
    Loop.run(agent, options?.runId === undefined ? { input } : { input, runId: options.runId }, loopOptions)
  )

/**
 * Resumes a suspended run with decisions on its pending approvals (`Approval.approve` / `Approval.deny`),
 * to its next outcome. The store must be the one the run was suspended in (the default one is, in this
 * process). Approved calls run without asking `Approvals` again; a gated call of a later step asks it.
 */
export const resume = <Tools extends Record<string, Tool.Any>, A, R, O extends RunOptions<Tools> = {}>(
  agent: Agent.Agent<Tools, A, R>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>,
  options?: O & RunOptions<Tools>
): Effect.Effect<RunOutcome, Loop.LoopError | OptionsError<O>, R | OptionsServices<Tools, O>> =>
  withLayers(agent, options ?? {}, (loopOptions) => Loop.resume(agent, runId, decisions, loopOptions))

/** `run` as a Promise, for code outside Effect. A failure rejects it with the typed error itself (e.g. `ModelError`). */
export const runPromise = <Tools extends Record<string, Tool.Any>, A>(
  agent: Agent.Agent<Tools, A, never>,
  input: Loop.RunInput["input"],
  options: PromiseOptions<Tools> & { readonly runId?: string }
): Promise<RunOutcome> =>
  Effect.runPromise(run(agent, input, options) as Effect.Effect<RunOutcome, unknown>, options.signal === undefined ? undefined : { signal: options.signal })

/** `resume` as a Promise, for code outside Effect. */
export const resumePromise = <Tools extends Record<string, Tool.Any>, A>(
  agent: Agent.Agent<Tools, A, never>,
  runId: string,
  decisions: ReadonlyArray<Approval.ApprovalDecision>,
  options: PromiseOptions<Tools>
): Promise<RunOutcome> =>
  Effect.runPromise(resume(agent, runId, decisions, options) as Effect.Effect<RunOutcome, unknown>, options.signal === undefined ? undefined : { signal: options.signal })

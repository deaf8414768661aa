/**
 * The workflow engine of the single-runner engines (`layerSqlite`, `layerPostgres`): `effect/workflow`'s
 * engine contract, with its state in the SQL database the process owns (see `sqlStore`).
 *
 * Why not `effect/cluster`'s engine on a single runner (what `layerSqlite` and `layerPostgres` used before):
 * there every activity is a persisted cluster message (a message row, a reply row, a lock refresh before the
 * reply, two transactions), routed through sharding and an entity mailbox: about 5 ms of CPU per run of 7
 * activities before any storage (measured with its in-memory storage), 80 statements per run on SQLite, and
 * 300 shard locks to release on shutdown. A single runner owns its database (`DatabaseLocked` keeps every
 * other process out), so none of that coordination is needed: here an activity's exit is one row, written
 * with the other runs' writes in one commit, and a replay reads an execution's rows once.
 *
 * Runs follow `WorkflowEngine.layerMemory` (the same replay, suspension, wake and interrupt rules); what this
 * adds is durability and eviction:
 *
 * - an execution's row is written before it first runs, each activity's exit before the workflow goes on,
 *   a deferred's completion before `decide` returns, the result when it completes;
 * - a suspended or completed execution leaves memory; a wake (a deferred, `resume`, `execute`) reads it back;
 * - when a workflow registers (the process starts), its executions left `running` by a process that
 *   stopped or died run again, replaying what is stored.
 *
 * Not kept across restarts: `DurableClock` timers (`Durable` runs use none) and an interrupt requested
 * before a restart.
 */
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, Scope, Semaphore } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { Workflow, WorkflowEngine } from "effect/workflow"
import * as Store from "./sqlStore.js"

type WakeMode = "explicit" | "automatic"

type Body = (payload: object, executionId: string) => Effect.Effect<unknown, unknown, WorkflowEngine.WorkflowInstance | WorkflowEngine.WorkflowEngine>

interface Registered {
  readonly workflow: Workflow.Any
  readonly execute: Body
  readonly scope: Scope.Scope
  readonly encodePayload: (payload: object) => string
  readonly decodePayload: (text: string) => object
  readonly encodeResult: (exit: Exit.Exit<unknown, unknown>) => string
  readonly decodeResult: (text: string) => Exit.Exit<unknown, unknown>
}

/** An execution in memory: from when it is started or woken until it completes or suspends. */
interface Execution {
  readonly registered: Registered
  readonly executionId: string
  readonly payload: object
  readonly payloadJson: string
  readonly parent: string | null
  instance: WorkflowEngine.WorkflowInstance["Service"]
  interrupted: boolean
  interruptedUnsafe: boolean
  resumeRequested: WakeMode | undefined
  fiber: Fiber.Fiber<Workflow.Result<unknown, unknown>> | undefined
  scope: Scope.Closeable
  /** Counts wakes: a run that ends as suspended after a wake it did not see must not be stored as suspended. */
  wakes: number
  /** Finished activities by `<name>/<attempt>`, as stored. */
  readonly activities: Map<string, StoredActivity>
  /** Completed deferreds by name (encoded exits). */
  readonly deferreds: Map<string, Exit.Exit<unknown, unknown>>
}

/** An activity's stored outcome: a result (`Complete`), or a failure that was not one (a defect). */
type StoredActivity = { readonly result: Exit.Exit<unknown, unknown> } | { readonly failure: Exit.Exit<never> }

const AnyOrVoid = Schema.Union([Schema.Any, Schema.Void])
const ExitJson = Schema.toCodecJson(Schema.Exit(AnyOrVoid, AnyOrVoid, Schema.Defect()))
const encodeExit = Schema.encodeSync(ExitJson)
const decodeExit = Schema.decodeUnknownSync(ExitJson)
const StoredJson = Schema.Struct({ result: Schema.optional(ExitJson), failure: Schema.optional(ExitJson) })
const storeActivity = (stored: StoredActivity) =>
  JSON.stringify("result" in stored ? { result: encodeExit(stored.result) } : { failure: encodeExit(stored.failure) })
const loadActivity = (text: string): StoredActivity => {
  const decoded = Schema.decodeUnknownSync(StoredJson)(JSON.parse(text))
  return decoded.result !== undefined ? { result: decoded.result } : { failure: decoded.failure as Exit.Exit<never> }
}

const isUnwakeable = (result: Workflow.Result<unknown, unknown>, mode: WakeMode) =>
  result._tag === "Complete" || (mode === "automatic" && result.failed === true)

/** What a lookup of an execution found. */
type Found =
  | { readonly _tag: "Active"; readonly execution: Execution }
  | { readonly _tag: "Complete"; readonly result: Workflow.Result<unknown, unknown> }
  | { readonly _tag: "Suspended" }
  | { readonly _tag: "Missing" }

/** The engine, on the store given. */
export const makeWith = (store: Store.Store) =>
  Effect.gen(function* () {
    const engineScope = yield* Effect.scope
    const workflows = new Map<string, Registered>()
    const executions = new Map<string, Execution>()
    /** Lookups under way, so that concurrent callers share one read (and one creation). */
    const lookups = new Map<string, Deferred.Deferred<Found>>()
    /** Callers of `awaitComplete` by execution, woken when it completes here. */
    const completions = new Map<string, Deferred.Deferred<void>>()
    const deferredState = WorkflowEngine.makeDeferredState()
    // Run setup can yield before `fiber` is installed; concurrent wakes must not start two runs.
    const runSetup = Semaphore.makeUnsafe(1)

    const newExecution = (registered: Registered, executionId: string, payload: object, payloadJson: string, parent: string | null, history?: Store.History): Execution => ({
      registered,
      executionId,
      payload,
      payloadJson,
      parent,
      instance: WorkflowEngine.WorkflowInstance.initial(registered.workflow, executionId),
      interrupted: false,
      interruptedUnsafe: false,
      resumeRequested: undefined,
      fiber: undefined,
      scope: Scope.makeUnsafe(),
      wakes: 0,
      activities: new Map(history?.activities.map(([key, text]) => [key, loadActivity(text)])),
      deferreds: new Map(history?.deferreds.map(([name, text]) => [name, decodeExit(JSON.parse(text))]))
    })

    const rowOf = (execution: Execution, state: Store.ExecutionState, result: string | null = null): Store.ExecutionRow => ({
      executionId: execution.executionId,
      workflow: execution.registered.workflow._tag,
      payload: execution.payloadJson,
      parent: execution.parent,
      state,
      result
    })

    /**
     * Finds an execution: in memory, or in the store. `activate` reads a suspended (or left running) one
     * back into memory; `create` stores and activates a missing one.
     */
    const lookup = (
      executionId: string,
      options: { readonly activate: boolean; readonly create?: { readonly registered: Registered; readonly payload: object; readonly parent: string | null } }
    ): Effect.Effect<Found> =>
      Effect.suspend(() => {
        const active = executions.get(executionId)
        if (active !== undefined) return Effect.succeed<Found>({ _tag: "Active", execution: active })
        const pending = lookups.get(executionId)
        // Someone is reading it: ask again once they are done (it may be in memory by then).
        if (pending !== undefined) return Effect.andThen(Deferred.await(pending), lookup(executionId, options))
        const done = Deferred.makeUnsafe<Found>()
        lookups.set(executionId, done)
        return read(executionId, options).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              lookups.delete(executionId)
              Deferred.doneUnsafe(done, exit)
            })
          )
        )
      })

    const read = Effect.fnUntraced(function* (
      executionId: string,
      options: { readonly activate: boolean; readonly create?: { readonly registered: Registered; readonly payload: object; readonly parent: string | null } }
    ) {
      const row = yield* store.execution(executionId)
      if (row === undefined) {
        if (options.create === undefined) return { _tag: "Missing" } as Found
        const { registered, payload, parent } = options.create
        const execution = newExecution(registered, executionId, payload, registered.encodePayload(payload), parent)
        // Stored before it runs: its activities' rows then always belong to a known execution.
        yield* store.write([{ _tag: "Execution", row: rowOf(execution, "running") }])
        executions.set(executionId, execution)
        return { _tag: "Active", execution } as Found
      }
      const registered = workflows.get(row.workflow)
      // Not registered here (yet): `register` picks up what is left running.
      if (registered === undefined) return { _tag: "Missing" } as Found
      if (row.state === "complete") {
        return { _tag: "Complete", result: new Workflow.Complete({ exit: registered.decodeResult(row.result!) }) } as Found
      }
      if (row.state === "suspended" && !options.activate) return { _tag: "Suspended" } as Found
      const history = yield* store.history(executionId)
      const execution = newExecution(registered, executionId, registered.decodePayload(row.payload), row.payload, row.parent, history)
      executions.set(executionId, execution)
      return { _tag: "Active", execution } as Found
    })

    /** Stores how a run ended, then lets a completed or suspended execution leave memory. */
    const settle = (execution: Execution, run: Fiber.Fiber<unknown, unknown>, wakes: number, exit: Exit.Exit<Workflow.Result<unknown, unknown>>) =>
      Effect.gen(function* () {
        if (Exit.isFailure(exit)) return // interrupted (shutdown) or a defect: stays `running`, and runs again on the next start
        const result = exit.value
        if (result._tag === "Complete") {
          yield* store.write([{ _tag: "Execution", row: rowOf(execution, "complete", execution.registered.encodeResult(result.exit)) }])
          const waiting = completions.get(execution.executionId)
          if (waiting !== undefined) {
            completions.delete(execution.executionId)
            Deferred.doneUnsafe(waiting, Exit.void)
          }
        } else if (execution.wakes === wakes) {
          // A wake since this run started means the run must go on: then it stays `running`.
          yield* store.write([{ _tag: "Execution", row: rowOf(execution, "suspended") }])
        }
        if (execution.fiber === run && execution.resumeRequested === undefined && execution.wakes === wakes) {
          executions.delete(execution.executionId)
        }
      })

    const resume = (executionId: string, mode: WakeMode): Effect.Effect<void> =>
      Effect.flatMap(lookup(executionId, { activate: true }), (found) => (found._tag === "Active" ? runSetup.withPermits(1)(start(found.execution, mode)) : Effect.void))

    // Follows `WorkflowEngine.layerMemory`'s `resume` (see there); `settle` is the addition.
    const start = (state: Execution, mode: WakeMode): Effect.Effect<void> =>
      Effect.gen(function* () {
        const exit = state.fiber?.pollUnsafe()
        if (exit && exit._tag === "Success" && isUnwakeable(exit.value, mode)) {
          return
        } else if (state.fiber && !exit) {
          const requested = state.resumeRequested
          state.resumeRequested = mode === "explicit" ? mode : requested ?? mode
          if (requested === undefined) {
            yield* Fiber.await(state.fiber).pipe(
              Effect.flatMap(() => {
                const next = state.resumeRequested!
                state.resumeRequested = undefined
                return resume(state.executionId, next)
              }),
              Effect.forkIn(engineScope)
            )
          }
          return
        }
        // The execution may have left memory while this wake waited for the setup permit.
        if (executions.get(state.executionId) !== state) return yield* resume(state.executionId, mode)
        if (state.scope.state._tag === "Closed") state.scope = Scope.makeUnsafe()
        const executionScope = state.scope
        const instance = WorkflowEngine.WorkflowInstance.initial(state.registered.workflow, state.executionId, { scope: Scope.forkUnsafe(executionScope) })
        state.instance = instance
        const wakes = state.wakes
        state.fiber = yield* state.registered.execute(state.payload, state.executionId).pipe(
          Effect.onExit((exit) => {
            if (
              !state.interrupted ||
              (!state.interruptedUnsafe &&
                !instance.suspended &&
                !instance.abandoned &&
                !(Context.get(instance.workflow.annotations, Workflow.SuspendOnFailure) && Exit.isFailure(exit)))
            ) {
              return Effect.void
            }
            instance.interrupted = true
            instance.suspended = false
            return Effect.withFiber((fiber) => Effect.interruptible(Fiber.interrupt(fiber)))
          }),
          (effect) => deferredState.trackRun(instance, effect),
          Workflow.intoResult,
          Effect.provideService(WorkflowEngine.WorkflowInstance, instance),
          Effect.provideService(WorkflowEngine.WorkflowEngine, engine),
          Effect.tap((result) => (state.parent === null || result._tag !== "Complete" ? Effect.void : Effect.forkIn(resume(state.parent, "automatic"), engineScope))),
          Effect.onExit((exit) =>
            Effect.andThen(
              Exit.isSuccess(exit) && exit.value._tag === "Suspended" ? Effect.void : Scope.close(executionScope, Exit.void),
              // This fiber is the run (`settle` lets the execution leave memory only if no later run replaced it).
              Effect.withFiber((run) => settle(state, run, wakes, exit))
            )
          ),
          Effect.forkIn(state.registered.scope)
        )
      })

    /** Marks a wake of an execution in memory (see `Execution.wakes`). */
    const woken = (executionId: string) => {
      const execution = executions.get(executionId)
      if (execution !== undefined) execution.wakes++
    }

    const engine = WorkflowEngine.makeUnsafe({
      register: Effect.fnUntraced(function* (workflow, execute) {
        const payloadCodec = Schema.toCodecJson(workflow.payloadSchema)
        const resultCodec = Schema.toCodecJson(Schema.Exit(workflow.successSchema, workflow.errorSchema, Schema.Defect()))
        const encodePayload = Schema.encodeSync(payloadCodec as unknown as Schema.Codec<object, unknown>)
        const decodePayload = Schema.decodeUnknownSync(payloadCodec as unknown as Schema.Codec<object, unknown>)
        const encodeResult = Schema.encodeSync(resultCodec as unknown as Schema.Codec<Exit.Exit<unknown, unknown>, unknown>)
        const decodeResult = Schema.decodeUnknownSync(resultCodec as unknown as Schema.Codec<Exit.Exit<unknown, unknown>, unknown>)
        workflows.set(workflow._tag, {
          workflow,
          execute,
          scope: yield* Effect.scope,
          encodePayload: (payload) => JSON.stringify(encodePayload(payload)),
          decodePayload: (text) => decodePayload(JSON.parse(text)),
          encodeResult: (exit) => JSON.stringify(encodeResult(exit)),
          decodeResult: (text) => decodeResult(JSON.parse(text))
        })
        // What a process that stopped or died left running runs again (replaying what is stored).
        const left = yield* store.running(workflow._tag)
        yield* Effect.forEach(left, (row) => resume(row.executionId, "explicit"), { discard: true, concurrency: "unbounded" }).pipe(Effect.forkIn(engineScope))
      }),
      execute: Effect.fnUntraced(function* (workflow, options) {
        const registered = workflows.get(workflow._tag)
        if (registered === undefined) return yield* Effect.die(`Workflow ${workflow._tag} is not registered`)
        const parent = options.detached ? null : (options.parent?.executionId ?? null)
        const found = yield* lookup(options.executionId, { activate: false, create: { registered, payload: options.payload, parent } })
        if (found._tag === "Complete") return (options.discard ? undefined : found.result) as any
        if (found._tag === "Suspended") return (options.discard ? undefined : new Workflow.Suspended({})) as any
        if (found._tag === "Missing") return yield* Effect.die(`Execution ${options.executionId} could not be created`)
        const execution = found.execution
        if (execution.fiber === undefined) yield* runSetup.withPermits(1)(start(execution, "explicit"))
        if (options.discard) return undefined as any
        const instance = execution.instance
        const exit = yield* Fiber.await(execution.fiber!)
        if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) && instance.suspended) {
          return new Workflow.Suspended({}) as any
        }
        return (yield* exit) as any
      }),
      awaitComplete: (_workflow, executionId) =>
        Effect.suspend(() => {
          let waiting = completions.get(executionId)
          if (waiting === undefined) {
            waiting = Deferred.makeUnsafe<void>()
            completions.set(executionId, waiting)
          }
          return Deferred.await(waiting)
        }),
      interrupt: Effect.fnUntraced(function* (_workflow, executionId) {
        const found = yield* lookup(executionId, { activate: true })
        if (found._tag !== "Active") return
        found.execution.interrupted = true
        found.execution.wakes++
        yield* resume(executionId, "explicit")
      }),
      interruptUnsafe: Effect.fnUntraced(function* (_workflow, executionId) {
        const found = yield* lookup(executionId, { activate: true })
        if (found._tag !== "Active") return
        const execution = found.execution
        execution.interrupted = true
        execution.interruptedUnsafe = true
        execution.wakes++
        if (execution.fiber) yield* Fiber.interrupt(execution.fiber)
        yield* resume(executionId, "explicit")
      }),
      resume: (_workflow, executionId) =>
        Effect.suspend(() => {
          woken(executionId)
          return resume(executionId, "explicit")
        }),
      activityExecute: Effect.fnUntraced(function* (activity, attempt) {
        const instance = yield* WorkflowEngine.WorkflowInstance
        const key = `${activity.name}/${attempt}`
        const execution = executions.get(instance.executionId)
        const stored = execution?.activities.get(key)
        if (stored !== undefined) {
          if ("result" in stored) return new Workflow.Complete({ exit: stored.result })
          return yield* stored.failure
        }
        // A pending interrupt replays only to rebuild compensations: no new activities.
        if (execution?.interrupted && !instance.interrupted) return new Workflow.Suspended({})
        const activityInstance = WorkflowEngine.WorkflowInstance.initial(instance.workflow, instance.executionId)
        activityInstance.interrupted = instance.interrupted
        const exit = yield* activity.executeEncoded.pipe(
          Workflow.intoResult,
          Effect.provideService(WorkflowEngine.WorkflowInstance, activityInstance),
          Effect.exit
        )
        // Stored before the workflow goes on (a preempted activity, or one that suspended, runs again).
        const outcome: StoredActivity | undefined = Exit.isSuccess(exit)
          ? exit.value._tag === "Complete"
            ? { result: exit.value.exit }
            : undefined
          : Cause.hasInterruptsOnly(exit.cause)
            ? undefined
            : { failure: exit as unknown as Exit.Exit<never> }
        if (outcome !== undefined) {
          yield* store.write([{ _tag: "Activity", executionId: instance.executionId, key, exit: storeActivity(outcome) }])
          execution?.activities.set(key, outcome)
        }
        return yield* exit
      }),
      poll: (_workflow, executionId) =>
        Effect.suspend(() => {
          const execution = executions.get(executionId)
          if (execution !== undefined) {
            const exit = execution.fiber?.pollUnsafe()
            if (!exit) return Effect.succeedNone
            return exit._tag === "Success" ? Effect.succeedSome(exit.value) : Effect.die(exit.cause)
          }
          return Effect.map(lookup(executionId, { activate: false }), (found) =>
            found._tag === "Complete" ? Option.some(found.result) : found._tag === "Suspended" ? Option.some<Workflow.Result<unknown, unknown>>(new Workflow.Suspended({})) : Option.none()
          )
        }),
      deferredResult: Effect.fnUntraced(function* (deferred) {
        const instance = yield* WorkflowEngine.WorkflowInstance
        return Option.fromNullishOr(executions.get(instance.executionId)?.deferreds.get(deferred.name))
      }),
      deferredDone: (options) =>
        Effect.gen(function* () {
          const execution = executions.get(options.executionId)
          if (execution?.deferreds.has(options.deferredName)) return
          woken(options.executionId)
          // Stored first, with the execution marked running: a crash after this replays it on the next start.
          yield* store.write([
            { _tag: "Deferred", executionId: options.executionId, name: options.deferredName, exit: JSON.stringify(encodeExit(options.exit)) },
            { _tag: "Wake", executionId: options.executionId }
          ])
          const found = yield* lookup(options.executionId, { activate: true })
          if (found._tag !== "Active") return
          // The first completion stays (one read back from the store already holds it).
          if (!found.execution.deferreds.has(options.deferredName)) found.execution.deferreds.set(options.deferredName, options.exit)
          const wake = Effect.andThen(deferredState.deferredDone(options.executionId, options.deferredName), resume(options.executionId, "automatic"))
          const current = yield* Effect.serviceOption(WorkflowEngine.WorkflowInstance)
          // A workflow finalizer cannot wait for its own run's cleanup: the engine's scope owns that wake.
          if (Option.isSome(current) && current.value.executionId === options.executionId) yield* Effect.forkIn(wake, engineScope)
          else yield* wake
        }),
      scheduleClock: (workflow, options) =>
        engine.deferredDone(options.clock.deferred, {
          workflowName: workflow._tag,
          executionId: options.executionId,
          deferredName: options.clock.deferred.name,
          exit: Exit.void
        }).pipe(Effect.delay(options.clock.duration), Effect.forkIn(engineScope), Effect.asVoid)
    })
    return engine
  })

/** The engine as a layer, on the process's SQL database (the caller makes sure it is the only runner). */
export const layer: Layer.Layer<WorkflowEngine.WorkflowEngine, SqlError.SqlError, SqlClient.SqlClient> = Layer.effect(
  WorkflowEngine.WorkflowEngine,
  Effect.flatMap(Store.make, makeWith)
)

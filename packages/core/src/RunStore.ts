/**
 * Where run states are kept between a suspension and its resume: in memory (tests, one process) or as
 * JSON files (a suspended run resumes in another process).
 *
 * @since 0.1.0
 */
import { FileSystem, Path } from "@effect/platform"
import { Context, Data, Effect, Layer, Option } from "effect"
import { decodeJson, encodeJson, type RunState, RunStateError } from "./RunState.js"

export class RunStoreError extends Data.TaggedError("RunStoreError")<{
  readonly operation: "save" | "load" | "delete"
  readonly runId: string
  readonly reason: string
}> {
  override get message(): string {
    return `Run store ${this.operation} failed for run ${this.runId}: ${this.reason}`
  }
}

export interface Service {
  readonly save: (state: RunState) => Effect.Effect<void, RunStoreError>
  readonly load: (runId: string) => Effect.Effect<Option.Option<RunState>, RunStoreError | RunStateError>
  readonly delete: (runId: string) => Effect.Effect<void, RunStoreError>
}

export class RunStore extends Context.Tag("@agentloop/core/RunStore")<RunStore, Service>() {}

/**
 * Keeps the states in memory. States are immutable snapshots (the loop copies its arrays when it saves),
 * so they are kept as they are, without a JSON round trip on every save. Every state is kept until the
 * process exits; a long-lived process should bound the finished ones (`layerMemoryBounded`).
 */
export const layerMemory: Layer.Layer<RunStore> = Layer.sync(RunStore, () => makeMemory(Infinity))

/**
 * Memory, keeping at most `keepFinished` finished (completed or stopped) runs: the ones that finished
 * longest ago are dropped first. Runs that can still go on (running, suspended, failed) are never dropped,
 * so bounding the store never loses a run that could be resumed.
 */
export const layerMemoryBounded = (options: { readonly keepFinished: number }): Layer.Layer<RunStore> => {
  if (!(Number.isInteger(options.keepFinished) && options.keepFinished >= 0)) {
    throw new TypeError(`RunStore.layerMemoryBounded: keepFinished must be a non-negative integer, got ${options.keepFinished}`)
  }
  return Layer.sync(RunStore, () => makeMemory(options.keepFinished))
}

const makeMemory = (keepFinished: number): Service => {
  const states = new Map<string, RunState>()
  /** Finished run ids, oldest first (a Set keeps insertion order). */
  const finished = new Set<string>()
  const save = (state: RunState) => {
    states.set(state.runId, state)
    if (keepFinished === Infinity) return
    finished.delete(state.runId)
    if (state.status !== "completed" && state.status !== "stopped") return
    finished.add(state.runId)
    if (finished.size > keepFinished) {
      const oldest = finished.values().next().value as string
      finished.delete(oldest)
      states.delete(oldest)
    }
  }
  return {
    save: (state) => Effect.sync(() => save(state)),
    load: (runId) => Effect.sync(() => Option.fromNullable(states.get(runId))),
    delete: (runId) =>
      Effect.sync(() => {
        states.delete(runId)
        finished.delete(runId)
      })
  }
}

const safeRunId = /^[A-Za-z0-9_.-]{1,200}$/

/** One `<runId>.json` file per run under `directory`, written atomically (temp file, then rename). */
export const layerFileSystem = (directory: string): Layer.Layer<RunStore, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(
    RunStore,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const fileOf = (operation: RunStoreError["operation"], runId: string) =>
        safeRunId.test(runId) && runId !== "." && runId !== ".."
          ? Effect.succeed(path.join(directory, `${runId}.json`))
          : Effect.fail(new RunStoreError({ operation, runId, reason: "run ids may only contain letters, digits, '_', '-' and '.'" }))
      const failWith = (operation: RunStoreError["operation"], runId: string) => (error: { readonly message: string }) =>
        new RunStoreError({ operation, runId, reason: error.message })
      return {
        save: (state) =>
          Effect.gen(function* () {
            const file = yield* fileOf("save", state.runId)
            const temp = `${file}.${process.pid}.${Date.now()}.tmp`
            // Encoding failures are typed too (states are built without re-validation on the hot path).
            const text = yield* Effect.try({
              try: () => encodeJson(state),
              catch: (error) => new RunStoreError({ operation: "save", runId: state.runId, reason: `cannot encode the state: ${String(error)}` })
            })
            yield* fs.makeDirectory(directory, { recursive: true })
            yield* fs.writeFileString(temp, text)
            yield* fs.rename(temp, file)
          }).pipe(Effect.mapError((e) => (e instanceof RunStoreError ? e : failWith("save", state.runId)(e)))),
        load: (runId) =>
          Effect.gen(function* () {
            const file = yield* fileOf("load", runId)
            const exists = yield* fs.exists(file).pipe(Effect.mapError(failWith("load", runId)))
            if (!exists) return Option.none()
            const text = yield* fs.readFileString(file).pipe(Effect.mapError(failWith("load", runId)))
            return Option.some(yield* decodeJson(runId, text))
          }),
        delete: (runId) =>
          Effect.gen(function* () {
            const file = yield* fileOf("delete", runId)
            yield* fs.remove(file, { force: true }).pipe(Effect.mapError(failWith("delete", runId)))
          })
      }
    })
  )

export { RunStateError }

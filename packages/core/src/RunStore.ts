/**
 * Where run states are kept between a suspension and its resume: in memory (tests, one process) or as
 * JSON files (a suspended run resumes in another process).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Context, Duration, Effect, FileSystem, Layer, Option, Path, Result, Schema } from "effect"
import { type IntegrityKey, seal, unseal } from "./RunIntegrity.js"
import { decodeJson, encodeJson, RunState, RunStateError, revisionOf } from "./RunState.js"

export class RunStoreError extends Schema.TaggedError<RunStoreError>()("RunStoreError", {
  operation: Schema.Literals(["save", "load", "delete"]),
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Run store ${this.operation} failed for run ${this.runId}: ${this.reason}`
  }
}

/** A compare-and-set write found another revision than it expected: another writer got there first. */
export class RunStoreConflict extends Schema.TaggedError<RunStoreConflict>()("RunStoreConflict", {
  runId: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `Run ${this.runId} was written by someone else: expected revision ${this.expected}, found ${this.actual}`
  }
}

export interface Service {
  /** Writes the state unconditionally, as the next revision. */
  readonly save: (state: RunState) => Effect.Effect<void, RunStoreError>
  readonly load: (runId: string) => Effect.Effect<Option.Option<RunState>, RunStoreError | RunStateError>
  readonly delete: (runId: string) => Effect.Effect<void, RunStoreError>
  /**
   * Writes `state` as revision `expected + 1` if, and only if, the stored revision is `expected` (0: no
   * state yet); otherwise fails with `RunStoreConflict` and writes nothing. Atomic: of concurrent writes
   * expecting the same revision, exactly one succeeds. Returns the state as stored.
   */
  readonly compareAndSet: (state: RunState, expected: number) => Effect.Effect<RunState, RunStoreError | RunStoreConflict>
}

export class RunStore extends Context.Service<RunStore, Service>()("@agentloop/core/RunStore") {}

/** The state as revision `revision` (the loop builds its states with the right revision already: no copy). */
const withRevision = (state: RunState, revision: number): RunState =>
  state.revision === revision ? state : new RunState({ ...state, revision }, { disableChecks: true })

/**
 * Keeps the states in memory. States are immutable snapshots (the loop copies its arrays when it saves),
 * so they are kept as they are, without a JSON round trip on every save. Every state is kept until the
 * process exits; a long-lived process should bound the finished ones (`layerMemoryBounded`).
 */
export const layerMemory: Layer.Layer<RunStore> = Layer.sync(RunStore, () => makeMemory(Infinity))

/**
 * Memory, keeping at most `keepFinished` finished (completed or stopped) runs: the ones that finished
 * longest ago are dropped first. Runs that can still go on (running, suspended, failed, interrupted) are never dropped,
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
  const write = (state: RunState) => {
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
  const revision = (runId: string) => {
    const current = states.get(runId)
    return current === undefined ? 0 : revisionOf(current)
  }
  return {
    save: (state) => Effect.sync(() => write(withRevision(state, revision(state.runId) + 1))),
    load: (runId) => Effect.sync(() => Option.fromUndefinedOr(states.get(runId))),
    delete: (runId) =>
      Effect.sync(() => {
        states.delete(runId)
        finished.delete(runId)
      }),
    // Synchronous, so nothing can interleave between the check and the write.
    compareAndSet: (state, expected) =>
      Effect.suspend(() => {
        const actual = revision(state.runId)
        if (actual !== expected) return Effect.fail(new RunStoreConflict({ runId: state.runId, expected, actual }))
        const stored = withRevision(state, expected + 1)
        write(stored)
        return Effect.succeed(stored)
      })
  }
}

const safeRunId = /^[A-Za-z0-9_.-]{1,200}$/

export interface FileSystemOptions {
  /**
   * Seals every written state with an HMAC-SHA256 under this key and checks it on load: a state edited
   * outside this library (or written without the key) fails to load with `RunStateError`. Use it when the
   * directory is outside the process's trust boundary.
   */
  readonly integrityKey?: IntegrityKey
  /** A lock file older than this is taken to be left by a crashed writer and removed. Default: 10 seconds. */
  readonly staleLockAfter?: Duration.Input
}

/**
 * One `<runId>.json` file per run under `directory`. Every write takes the run's lock (`<runId>.json.lock`,
 * created exclusively, so it excludes writers in other processes on this machine too), checks the stored
 * revision, writes a temp file and renames it over the state: readers never see a partial state, and of
 * concurrent compare-and-set writes exactly one succeeds.
 */
export const layerFileSystem = (
  directory: string,
  options: FileSystemOptions = {}
): Layer.Layer<RunStore, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(
    RunStore,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const staleLockMs = Duration.toMillis(options.staleLockAfter ?? Duration.seconds(10))
      const fileOf = (operation: RunStoreError["operation"], runId: string) =>
        safeRunId.test(runId) && runId !== "." && runId !== ".."
          ? Effect.succeed(path.join(directory, `${runId}.json`))
          : Effect.fail(new RunStoreError({ operation, runId, reason: "run ids may only contain letters, digits, '_', '-' and '.'" }))
      const failWith = (operation: RunStoreError["operation"], runId: string) => (error: { readonly message: string }) =>
        new RunStoreError({ operation, runId, reason: error.message })

      /** Takes the lock file (create-exclusive), retrying while another writer holds it. */
      const lock = (file: string, runId: string) => {
        const lockFile = `${file}.lock`
        const attempt: Effect.Effect<void, RunStoreError> = fs.writeFileString(lockFile, `${process.pid}`, { flag: "wx" }).pipe(
          Effect.catch((error) =>
            error.reason._tag === "AlreadyExists"
              ? Effect.flatMap(
                  fs.stat(lockFile).pipe(
                    Effect.map((info) => Option.match(info.mtime, { onNone: () => false, onSome: (t) => Date.now() - t.getTime() > staleLockMs })),
                    Effect.orElseSucceed(() => false)
                  ),
                  (stale) =>
                    stale
                      ? Effect.andThen(fs.remove(lockFile, { force: true }).pipe(Effect.ignore), attempt)
                      : Effect.andThen(Effect.sleep(Duration.millis(1 + Math.random() * 4)), attempt)
                )
              : Effect.fail(failWith("save", runId)(error))
          )
        )
        return Effect.acquireRelease(attempt, () => fs.remove(lockFile, { force: true }).pipe(Effect.ignore))
      }

      /** The stored revision (0: no file). Read under the lock. */
      const storedRevision = (file: string, runId: string) =>
        Effect.gen(function* () {
          const exists = yield* fs.exists(file)
          if (!exists) return 0
          const text = yield* fs.readFileString(file)
          const revision = Result.try(() => (JSON.parse(text) as { revision?: unknown }).revision)
          if (Result.isFailure(revision)) {
            return yield* new RunStoreError({ operation: "save", runId, reason: "the stored state is not valid JSON" })
          }
          return typeof revision.success === "number" ? revision.success : 1
        }).pipe(Effect.mapError((e) => (e instanceof RunStoreError ? e : failWith("save", runId)(e))))

      /** Writes under the lock: `expected` undefined writes unconditionally. */
      const write = (state: RunState, expected: number | undefined): Effect.Effect<RunState, RunStoreError | RunStoreConflict> =>
        Effect.scoped(
          Effect.gen(function* () {
            const file = yield* fileOf("save", state.runId)
            yield* fs.makeDirectory(directory, { recursive: true }).pipe(Effect.mapError(failWith("save", state.runId)))
            yield* lock(file, state.runId)
            const actual = yield* storedRevision(file, state.runId)
            if (expected !== undefined && actual !== expected) {
              return yield* new RunStoreConflict({ runId: state.runId, expected, actual })
            }
            // Encoding failures are typed too (states are built without re-validation on the hot path), and so
            // is a state the constructor refuses when it is copied with its new revision.
            const [stored, text] = yield* Effect.try({
              try: () => {
                const stored = withRevision(state, actual + 1)
                const json = encodeJson(stored)
                return [stored, options.integrityKey === undefined ? json : seal(options.integrityKey, json)] as const
              },
              catch: (error) => new RunStoreError({ operation: "save", runId: state.runId, reason: `cannot encode the state: ${String(error)}` })
            })
            const temp = `${file}.${process.pid}.${randomUUID()}.tmp`
            yield* fs.writeFileString(temp, text).pipe(Effect.mapError(failWith("save", state.runId)))
            yield* fs.rename(temp, file).pipe(Effect.mapError(failWith("save", state.runId)))
            return stored
          })
        )

      return {
        save: (state) => Effect.asVoid(write(state, undefined)) as Effect.Effect<void, RunStoreError>,
        compareAndSet: (state, expected) => write(state, expected),
        load: (runId) =>
          Effect.gen(function* () {
            const file = yield* fileOf("load", runId)
            const exists = yield* fs.exists(file).pipe(Effect.mapError(failWith("load", runId)))
            if (!exists) return Option.none()
            const text = yield* fs.readFileString(file).pipe(Effect.mapError(failWith("load", runId)))
            const checked = options.integrityKey === undefined ? text : yield* Effect.fromResult(unseal(options.integrityKey, runId, text))
            return Option.some(yield* decodeJson(runId, checked))
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

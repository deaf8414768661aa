/**
 * Where run states are kept between a suspension and its resume: in memory (tests, one process) or as
 * JSON files (a suspended run resumes in another process).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Context, Duration, Effect, FileSystem, Layer, Option, Path, Result, Schema } from "effect"
import { checkRevision, checkRunId, type IntegrityKey, readRevision, RunStateTampered, seal, sealRevision, unseal } from "./RunIntegrity.js"
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
  /** A state that cannot be read is a `RunStateError`; one that is not this run's, or was rolled back, is `RunStateTampered`. */
  readonly load: (runId: string) => Effect.Effect<Option.Option<RunState>, RunStoreError | RunStateError | RunStateTampered>
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
   * outside this library (or written without the key) fails to load with `RunStateError`; a sealed state
   * copied over another run's, or rolled back to an older snapshot, fails with `RunStateTampered`. Use it
   * when the directory is outside the process's trust boundary.
   */
  readonly integrityKey?: IntegrityKey
  /**
   * With an `integrityKey`: where the sealed revision records (`<runId>.rev`, the highest revision written)
   * are kept. Default: `directory`. A rollback of a state file alone is detected by every process; to detect
   * a rollback of a state and its record together, keep the records where whoever can write `directory`
   * cannot (see docs/core.md, "Distrusting stored state").
   */
  readonly revisionDirectory?: string
  /** A lock file older than this is taken to be left by a crashed writer and removed. Default: 10 seconds. */
  readonly staleLockAfter?: Duration.Input
}

/**
 * One `<runId>.json` file per run under `directory`. Every write takes the run's lock (`<runId>.json.lock`,
 * created exclusively, so it excludes writers in other processes on this machine too), checks the stored
 * revision, writes a temp file and renames it over the state: readers never see a partial state, and of
 * concurrent compare-and-set writes exactly one succeeds. With an `integrityKey`, a write then records its
 * revision (sealed) in `<runId>.rev`, and the store remembers the highest revision it wrote or read of each
 * run: a load finding an older state is a rollback (`RunStateTampered`).
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
      const key = options.integrityKey
      const revisionDirectory = options.revisionDirectory ?? directory
      /** The highest revision this store wrote or read, per run (sealed stores only): a rollback is refused in this process even if its record was rolled back too. */
      const highest = new Map<string, number>()
      const remember = (runId: string, revision: number) => {
        if (revision > (highest.get(runId) ?? 0)) highest.set(runId, revision)
      }
      const validId = (runId: string) => safeRunId.test(runId) && runId !== "." && runId !== ".."
      const fileOf = (operation: RunStoreError["operation"], runId: string) =>
        validId(runId)
          ? Effect.succeed(path.join(directory, `${runId}.json`))
          : Effect.fail(new RunStoreError({ operation, runId, reason: "run ids may only contain letters, digits, '_', '-' and '.'" }))
      // `.rev`, never `.json`: no run id names a record.
      const recordOf = (runId: string) => path.join(revisionDirectory, `${runId}.rev`)
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

      /** The revision in the sealed record of a run (0: none), or `RunStateTampered` for a record that is not genuine. */
      const recordedRevision = (runId: string) =>
        Effect.gen(function* () {
          const file = recordOf(runId)
          if (!(yield* fs.exists(file))) return 0
          return yield* Effect.fromResult(readRevision(key!, runId, yield* fs.readFileString(file)))
        })

      /** The stored revision (0: no file), never lower than the sealed record's. Read under the lock. */
      const storedRevision = (file: string, runId: string) =>
        Effect.gen(function* () {
          const recorded = key === undefined ? 0 : Math.max(yield* recordedRevision(runId), highest.get(runId) ?? 0)
          const exists = yield* fs.exists(file)
          if (!exists) return recorded
          const text = yield* fs.readFileString(file)
          const revision = Result.try(() => (JSON.parse(text) as { revision?: unknown }).revision)
          if (Result.isFailure(revision)) {
            return yield* new RunStoreError({ operation: "save", runId, reason: "the stored state is not valid JSON" })
          }
          // A rolled-back state is not the latest: a write expecting its revision conflicts, and the next is above the record.
          return Math.max(typeof revision.success === "number" ? revision.success : 1, recorded)
        }).pipe(Effect.mapError((e) => (e instanceof RunStoreError ? e : failWith("save", runId)(e))))

      /** Writes `text` to `file` through a temp file and a rename: readers never see it half written. */
      const replace = (file: string, text: string, runId: string) => {
        const temp = `${file}.${process.pid}.${randomUUID()}.tmp`
        return Effect.andThen(fs.writeFileString(temp, text), fs.rename(temp, file)).pipe(Effect.mapError(failWith("save", runId)))
      }

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
                return [stored, key === undefined ? json : seal(key, json)] as const
              },
              catch: (error) => new RunStoreError({ operation: "save", runId: state.runId, reason: `cannot encode the state: ${String(error)}` })
            })
            yield* replace(file, text, state.runId)
            if (key !== undefined) {
              // After the state: a crash in between leaves the record one behind, never ahead of the state.
              if (revisionDirectory !== directory) {
                yield* fs.makeDirectory(revisionDirectory, { recursive: true }).pipe(Effect.mapError(failWith("save", state.runId)))
              }
              yield* replace(recordOf(state.runId), sealRevision(key, state.runId, actual + 1), state.runId)
              remember(state.runId, actual + 1)
            }
            return stored
          })
        )

      /** With a key: the seal, the run id, and no rollback below the record or what this store has seen. */
      const checked = (runId: string, text: string) =>
        Effect.gen(function* () {
          const state = yield* decodeJson(runId, key === undefined ? text : yield* Effect.fromResult(unseal(key, runId, text)))
          const owner = checkRunId(runId, state.runId)
          if (owner !== undefined) return yield* owner
          if (key === undefined) return state
          const revision = revisionOf(state)
          const rolledBack = checkRevision(runId, revision, Math.max(yield* recordedRevision(runId), highest.get(runId) ?? 0))
          if (rolledBack !== undefined) return yield* rolledBack
          remember(runId, revision)
          return state
        })

      return {
        save: (state) => Effect.asVoid(write(state, undefined)) as Effect.Effect<void, RunStoreError>,
        compareAndSet: (state, expected) => write(state, expected),
        load: (runId) =>
          Effect.gen(function* () {
            const file = yield* fileOf("load", runId)
            const exists = yield* fs.exists(file).pipe(Effect.mapError(failWith("load", runId)))
            if (!exists) return Option.none()
            const text = yield* fs.readFileString(file).pipe(Effect.mapError(failWith("load", runId)))
            return Option.some(yield* checked(runId, text))
          }).pipe(Effect.catchTag("PlatformError", (e) => Effect.fail(failWith("load", runId)(e)))),
        delete: (runId) =>
          Effect.gen(function* () {
            const file = yield* fileOf("delete", runId)
            yield* fs.remove(file, { force: true }).pipe(Effect.mapError(failWith("delete", runId)))
            if (key !== undefined) {
              yield* fs.remove(recordOf(runId), { force: true }).pipe(Effect.mapError(failWith("delete", runId)))
              highest.delete(runId)
            }
          })
      }
    })
  )

export { RunStateError, RunStateTampered }

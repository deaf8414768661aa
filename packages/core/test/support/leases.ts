/**
 * Owners of one run racing over one shared store, with short leases and slow approved calls. Every write an
 * owner makes is recorded (which claim stored which call results), and every call, as it starts, checks
 * against the store that its owner holds a live lease and that no result of the call is stored yet: a call
 * that starts on a lapsed lease, or runs again after its result was stored, is recorded as a problem.
 */
import { Agent, AgentBackend, Approval, type Message, RunClaim, RunState, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Duration, Effect, Layer, Option, Result, Schema } from "effect"

const releaseTool = (parallel: boolean) =>
  Tool.make("release", {
    description: "Release a version (slow; needs approval).",
    parameters: { version: Schema.String },
    success: Schema.String,
    requiresApproval: true,
    parallel
  })

export interface Execution {
  readonly runId: string
  readonly owner: string
  /** The claim (lease owner) the call ran under, as the store showed it when the call started. */
  readonly claim: string | undefined
  readonly toolCallId: string
  readonly idempotencyKey: string
  readonly start: number
  end: number | undefined
  /** What was wrong when it started (empty: a live lease of its own owner, and no stored result). */
  readonly problems: ReadonlyArray<string>
}

export interface Options {
  /** How long each call runs (ms), in call order: call `i` is `release({ version: "v<i>" })`. */
  readonly durations: ReadonlyArray<number>
  /** Calls one at a time (`parallel: false`) or concurrently. */
  readonly sequential: boolean
  /** Told of each execution as it starts (e.g. to append it to a log shared by processes). */
  readonly onExecution?: (execution: Execution) => void
}

export const makeLeaseWorld = (options: Options) => {
  const Release = releaseTool(!options.sequential)
  const toolkit = Toolkit.make(Release)
  const agent = Agent.make({ name: "releaser", toolkit })
  const executions: Array<Execution> = []
  /** The claim each owner holds (the lease owner it last wrote). */
  const claims = new Map<string, string>()
  /** Per claim, the tool-call ids whose results a state written under it held. */
  const stored = new Map<string, Set<string>>()
  const durationOf = (version: string) => options.durations[Number(version.slice(1))] ?? 0

  const resultsOf = (state: RunState.RunState) =>
    state.messages.flatMap((m: Message.Message) => (m._tag === "ToolMessage" ? [m.toolCallId] : []))

  /** The shared store as one owner sees it: its writes are recorded under its current claim. */
  const storeFor = (inner: RunStore.Service, owner: string): RunStore.Service => ({
    ...inner,
    compareAndSet: (state, expected) =>
      Effect.tap(inner.compareAndSet(state, expected), (written) =>
        Effect.sync(() => {
          if (written.lease !== undefined) claims.set(owner, written.lease.owner)
          const claim = claims.get(owner)
          if (claim === undefined) return
          const set = stored.get(claim) ?? new Set<string>()
          for (const id of resultsOf(written)) set.add(id)
          stored.set(claim, set)
        })
      )
  })

  const handlers = (inner: RunStore.Service, owner: string) =>
    toolkit.toLayer({
      release: ({ version }, ctx) =>
        Effect.gen(function* () {
          const state = Option.getOrUndefined(yield* Effect.orDie(inner.load(ctx.runId)))
          const now = Date.now()
          const problems: Array<string> = []
          const lease = state?.status === "running" ? state.lease : undefined
          if (lease === undefined || lease.owner !== claims.get(owner) || lease.expiresAt <= now) {
            problems.push(`started without a live lease of its own (stored: ${JSON.stringify({ status: state?.status, lease, now, mine: claims.get(owner) })})`)
          }
          if (state !== undefined && resultsOf(state).includes(ctx.toolCallId)) problems.push("started after its result was stored")
          const execution: Execution = {
            runId: ctx.runId,
            owner,
            claim: lease?.owner,
            toolCallId: ctx.toolCallId,
            idempotencyKey: ctx.idempotencyKey,
            start: now,
            end: undefined,
            problems
          }
          executions.push(execution)
          options.onExecution?.(execution)
          yield* Effect.sleep(Duration.millis(durationOf(version)))
          execution.end = Date.now()
          return `released ${version}`
        })
    })

  /** An owner: its own lease duration, handlers and view of the shared store; its model always answers "done". */
  const owner = (inner: RunStore.Service, name: string, leaseMs: number, turns?: ReadonlyArray<ScriptedModel.Turn>) =>
    Effect.provide(
      AgentBackend.AgentBackend,
      AgentBackend.layerLocal(agent).pipe(
        Layer.provide(
          Layer.mergeAll(
            ScriptedModel.make(turns ?? Array.from({ length: 20 }, () => ScriptedModel.text("done"))).layerUnchecked,
            handlers(inner, name),
            Approval.layerSuspend(),
            Layer.succeed(RunStore.RunStore, storeFor(inner, name)),
            RunClaim.layerLeaseDuration(Duration.millis(leaseMs))
          )
        )
      )
    )

  /** Suspends a run with one approved-to-be `release` call per duration; returns the approvals. */
  const suspendRun = (inner: RunStore.Service, runId: string) =>
    Effect.gen(function* () {
      const calls = options.durations.map((_, i) => ({ name: "release", args: { version: `v${i}` }, id: `call_${i}` }))
      const backend = yield* owner(inner, "setup", 60_000, [ScriptedModel.toolCalls(calls)])
      const outcome = yield* backend.run({ input: "release them all", runId })
      if (outcome._tag !== "Suspended") return yield* Effect.die(`expected Suspended, got ${outcome._tag}`)
      return outcome.pending.map((p) => Approval.approve(p, { by: "alice" }))
    })

  /**
   * One owner trying to finish the run: resumes (with the decisions the store does not hold yet), waits out a
   * live lease (`RunBusy`), tries again after losing its lease, up to `attempts` times. Returns how each ended.
   */
  const persist = (
    backend: AgentBackend.AgentBackend["Service"],
    runId: string,
    decisions: ReadonlyArray<Approval.ApprovalDecision>,
    attempts: number
  ) =>
    Effect.gen(function* () {
      const ends: Array<string> = []
      for (let i = 0; i < attempts; i++) {
        const state = Option.getOrThrow(yield* Effect.orDie(backend.getRun(runId)))
        if (state.status === "completed") break
        const needed = decisions.filter(
          (d) => state.pending.some((p) => p.approvalId === d.approvalId) && !(state.decisions ?? []).some((held) => held.approvalId === d.approvalId)
        )
        const result = yield* Effect.result(backend.resume(runId, needed))
        const end = Result.isSuccess(result) ? result.success._tag : result.failure._tag
        ends.push(end)
        if (end === "Completed" || end === "RunNotResumable") break
        if (Result.isFailure(result) && result.failure._tag === "RunBusy") {
          const expiresAt = result.failure.leaseExpiresAt ?? Date.now()
          yield* Effect.sleep(Duration.millis(Math.max(0, expiresAt - Date.now()) + 1))
        } else if (end === "Suspended") {
          yield* Effect.sleep(Duration.millis(5))
        } else if (end !== "RunLeaseLost") {
          return yield* Effect.die(`unexpected end: ${JSON.stringify(Result.isFailure(result) ? result.failure : result.success)}`)
        }
      }
      return ends
    })

  return { executions, claims, stored, owner, suspendRun, persist, resultsOf }
}

/**
 * The runs a server has started, each with its numbered event log (`RunLog`), its status as its events
 * report it, its pending approvals and the decisions taken on them. A run belongs to the server, not to the
 * request that started it: a client that disconnects loses nothing, and the run goes on.
 *
 * Decisions keep the core's guarantees: the decision is built from the stored pending approval (so it is
 * bound to the run, the call, the approval id and the arguments' digest), it is refused once the approval
 * has expired, and it is applied through the backend's `resume`, whose claim (a compare-and-set on the run's
 * state) lets exactly one of two concurrent resumes through, in this process or across processes. Within
 * one process decisions on a run are also taken one at a time, so the second of two approvers clicking at
 * once is told who decided first.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { AgentBackend, type AgentEvent, Approval, Redaction } from "@agentloop/core"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Scope, Semaphore, Stream } from "effect"
import type { Identity } from "./Auth.js"
import * as EventView from "./EventView.js"
import {
  AgentNotFound,
  AlreadyDecided,
  ApprovalExpired,
  ApprovalNotFound,
  type AuditEntry,
  DecisionRejected,
  type DecisionRecord,
  type PendingView,
  RunConflict,
  RunFailed,
  RunNotFound,
  type RunDetail,
  type RunStatus,
  type RunSummary
} from "./Model.js"
import { RunLog } from "./RunLog.js"

/** An agent as the server serves it. */
export interface Agent<E = never, R = never> {
  /** The backend that runs it (any `AgentBackend` layer: local, hosted, durable). */
  readonly backend: Layer.Layer<AgentBackend.AgentBackend, E, R>
  readonly description?: string
  /**
   * The risk class shown with each of its pending approvals (e.g. from the tool's own metadata); default:
   * `"requires approval"`.
   */
  readonly risk?: (toolName: string) => string | undefined
}

export interface Options {
  /** Events each run's log keeps (see `RunLog`). Default 10,000. */
  readonly eventsPerRun?: number
  /** Finished runs kept in memory; the oldest finished are dropped first. Default 1,000. */
  readonly keepFinished?: number
  /** Secret values to scrub from everything served besides the secret shapes (see `Redaction.known`). */
  readonly secrets?: Redaction.Known
}

/** One run, as the server keeps it. */
export interface Run {
  readonly runId: string
  readonly agent: string
  readonly startedBy: string
  readonly createdAt: number
  updatedAt: number
  status: RunStatus
  readonly log: RunLog
  pending: ReadonlyArray<PendingView>
  readonly decisions: Map<string, DecisionRecord>
  readonly audit: Array<AuditEntry>
  outcome: unknown
  error: string | undefined
  fiber: Fiber.Fiber<void> | undefined
  readonly lock: Semaphore.Semaphore
  /** Agent paths of the approvals requested in this run (sub-agents' approvals come through `SubAgentEvent`s). */
  readonly paths: Map<string, ReadonlyArray<string>>
}

export interface Service {
  readonly agents: ReadonlyArray<{ readonly name: string; readonly description?: string }>
  readonly start: (
    identity: Identity,
    agent: string,
    input: { readonly input: string; readonly runId?: string | undefined }
  ) => Effect.Effect<Run, AgentNotFound | RunConflict | RunFailed>
  readonly get: (runId: string) => Effect.Effect<Run, RunNotFound>
  /** Suspended runs first, then running ones, then the rest; most recently updated first within each. */
  readonly list: (status?: RunStatus) => Effect.Effect<ReadonlyArray<RunSummary>>
  readonly decide: (
    identity: Identity,
    runId: string,
    approvalId: string,
    decision: { readonly approved: boolean; readonly reason?: string | undefined }
  ) => Effect.Effect<DecisionRecord, RunNotFound | ApprovalNotFound | AlreadyDecided | ApprovalExpired | DecisionRejected>
  /** The run in which an approval is pending (AG-UI resumes name the approval only). */
  readonly byApproval: (approvalId: string) => Effect.Effect<Run, ApprovalNotFound>
  readonly interrupt: (runId: string) => Effect.Effect<RunSummary, RunNotFound | RunConflict>
  /** How many runs are kept, and how many followers wait on their logs (for tests and metrics). */
  readonly stats: Effect.Effect<{ readonly runs: number; readonly waiting: number }>
}

export class Runs extends Context.Service<Runs, Service>()("@agentloop/server/Runs") {}

export const summary = (run: Run): RunSummary => ({
  runId: run.runId,
  agent: run.agent,
  status: run.status,
  startedBy: run.startedBy,
  createdAt: run.createdAt,
  updatedAt: run.updatedAt,
  pendingCount: run.pending.length,
  lastEventId: run.log.last
})

export const detail = (run: Run): RunDetail => ({
  ...summary(run),
  pending: run.pending,
  decisions: [...run.decisions.values()],
  ...(run.outcome === undefined ? {} : { outcome: run.outcome }),
  ...(run.error === undefined ? {} : { error: run.error }),
  serverTime: Date.now()
})

const order: Record<RunStatus, number> = { suspended: 0, running: 1, failed: 2, interrupted: 3, stopped: 4, completed: 5 }

type Served = { readonly name: string; readonly description?: string; readonly backend: AgentBackend.Service; readonly risk: (tool: string) => string }

/** Builds every agent's backend (in the layer's scope) and serves them. */
export const layer = <const Agents extends Record<string, Agent<any, any>>>(
  agents: Agents,
  options: Options = {}
): Layer.Layer<Runs, Agents[keyof Agents] extends Agent<infer E, any> ? E : never, Agents[keyof Agents] extends Agent<any, infer R> ? R : never> =>
  Layer.effect(
    Runs,
    Effect.gen(function* () {
      const served = new Map<string, Served>()
      for (const [name, agent] of Object.entries(agents)) {
        const context = yield* Layer.build(agent.backend)
        served.set(name, {
          name,
          ...(agent.description === undefined ? {} : { description: agent.description }),
          backend: Context.get(context, AgentBackend.AgentBackend),
          risk: (tool) => agent.risk?.(tool) ?? "requires approval"
        })
      }
      const scope = yield* Scope.Scope
      return make(served, scope, options)
    })
  ) as never

const make = (served: ReadonlyMap<string, Served>, scope: Scope.Scope, options: Options): Service => {
  const runs = new Map<string, Run>()
  const secrets = options.secrets ?? Redaction.none
  const keepFinished = options.keepFinished ?? 1000
  const finished: Array<string> = []

  const pendingView = (run: Run, agent: Served, p: Approval.PendingApproval): PendingView => ({
    approvalId: p.approvalId,
    runId: run.runId,
    toolCallId: p.toolCallId,
    toolName: p.toolName,
    risk: agent.risk(p.toolName),
    agentPath: run.paths.get(p.approvalId) ?? (p.agent === undefined ? [run.agent] : [run.agent, p.agent]),
    arguments: Redaction.args(p.arguments, secrets),
    argumentsDigest: p.argumentsDigest,
    step: p.step,
    requestedAt: p.requestedAt,
    ...(p.expiresAt === undefined ? {} : { expiresAt: p.expiresAt })
  })

  const setStatus = (run: Run, status: RunStatus) => {
    run.status = status
    if (status === "completed" || status === "stopped") {
      run.log.end()
      finished.push(run.runId)
      while (finished.length > keepFinished) runs.delete(finished.shift()!)
    }
  }

  /** Records one event of the run: served redacted, with its audit entry, and the status it implies. */
  const record = (run: Run, agent: Served, event: AgentEvent.AgentEvent) => {
    const at = Date.now()
    const shown = EventView.redact(event, secrets)
    const seq = run.log.append(event._tag, JSON.stringify(shown), at)
    run.updatedAt = at
    const entry = EventView.auditEntry(run.agent, shown, seq, at)
    if (entry !== undefined) run.audit.push(entry)
    const own = event._tag === "SubAgentEvent" ? event.event : event
    if (own._tag === "ApprovalRequested") run.paths.set(own.approval.approvalId, EventView.agentPath(run.agent, event))
    if (event._tag === "RunStarted") setStatus(run, "running")
    else if (event._tag === "RunFinished") {
      const outcome = event.outcome
      run.outcome = (shown as typeof event).outcome
      run.pending = outcome._tag === "Suspended" ? outcome.pending.map((p) => pendingView(run, agent, p)) : []
      setStatus(run, outcome._tag === "Suspended" ? "suspended" : outcome._tag === "Completed" ? "completed" : "stopped")
    }
  }

  /**
   * Consumes a run's stream on a fiber of the server's own. Returns once the run has started (its first
   * event) or failed with the failure of a run that never started.
   */
  const drive = (run: Run, agent: Served, events: Stream.Stream<AgentEvent.AgentEvent, AgentBackend.AgentError>) =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void, AgentBackend.AgentError>()
      const fiber = yield* events.pipe(
        Stream.runForEach((event) =>
          Effect.sync(() => {
            record(run, agent, event)
            Deferred.doneUnsafe(started, Exit.void)
          })
        ),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            run.fiber = undefined
            if (Exit.isSuccess(exit)) return
            run.updatedAt = Date.now()
            if (Cause.hasInterruptsOnly(exit.cause)) {
              setStatus(run, "interrupted")
              run.log.append("interrupted", JSON.stringify({ runId: run.runId }))
            } else {
              const error = Cause.findErrorOption(exit.cause)
              run.error = Redaction.text(Option.isSome(error) ? error.value.message : Cause.pretty(exit.cause).split("\n")[0] ?? "", secrets)
              setStatus(run, "failed")
              run.log.append("failed", JSON.stringify({ runId: run.runId, error: run.error }))
            }
            run.log.end()
            Deferred.doneUnsafe(started, exit as Exit.Exit<never, AgentBackend.AgentError>)
          })
        ),
        Effect.forkIn(scope)
      )
      run.fiber = fiber as Fiber.Fiber<void>
      yield* Deferred.await(started)
    })

  const newRun = (runId: string, agent: string, startedBy: string, status: RunStatus): Run => {
    const now = Date.now()
    return {
      runId,
      agent,
      startedBy,
      createdAt: now,
      updatedAt: now,
      status,
      log: new RunLog(options.eventsPerRun),
      pending: [],
      decisions: new Map(),
      audit: [],
      outcome: undefined,
      error: undefined,
      fiber: undefined,
      lock: Semaphore.makeUnsafe(1),
      paths: new Map()
    }
  }

  /**
   * A run this server did not start but an agent's store holds (started by another replica sharing the
   * store, or before a restart): taken into the registry with its stored status and pending approvals. Its
   * earlier events are not known here; the ones from now on are.
   */
  const adopt = (runId: string): Effect.Effect<Option.Option<Run>> =>
    Effect.gen(function* () {
      for (const agent of served.values()) {
        const state = yield* agent.backend.getRun(runId).pipe(Effect.orElseSucceed(() => Option.none()))
        if (Option.isNone(state) || state.value.agent !== agent.name) continue
        const stored = state.value
        const adopted = runs.get(runId) ?? newRun(runId, agent.name, "unknown", stored.status)
        adopted.pending = stored.status === "suspended" ? stored.pending.map((p) => pendingView(adopted, agent, p)) : []
        for (const p of stored.pending) adopted.paths.set(p.approvalId, adopted.paths.get(p.approvalId) ?? [agent.name])
        if (stored.outcome !== undefined) adopted.outcome = EventView.redactValue(stored.outcome, secrets)
        runs.set(runId, adopted)
        return Option.some(adopted)
      }
      return Option.none()
    })

  const find = (runId: string): Effect.Effect<Run, RunNotFound> =>
    Effect.suspend(() => {
      const run = runs.get(runId)
      if (run !== undefined) return Effect.succeed(run)
      return Effect.flatMap(adopt(runId), Option.match({ onNone: () => Effect.fail(new RunNotFound({ runId })), onSome: Effect.succeed }))
    })

  const rejected = (runId: string, approvalId: string, run: Run) => (error: AgentBackend.AgentError) => {
    switch (error._tag) {
      case "ApprovalExpired":
        return new ApprovalExpired({ runId, approvalId, expiredAt: error.expiredAt })
      case "RunBusy":
      case "InvalidApprovalDecision": {
        const previous = run.decisions.get(approvalId)
        return new AlreadyDecided({ runId, approvalId, ...(previous === undefined ? {} : { decidedBy: previous.decidedBy, approved: previous.approved }) })
      }
      default:
        return new DecisionRejected({ runId, reason: Redaction.text(error.message, secrets) })
    }
  }

  return {
    agents: [...served.values()].map((agent) => ({ name: agent.name, ...(agent.description === undefined ? {} : { description: agent.description }) })),

    start: (identity, agentName, input) =>
      Effect.gen(function* () {
        const agent = served.get(agentName)
        if (agent === undefined) return yield* new AgentNotFound({ agent: agentName })
        const runId = input.runId ?? `run_${randomUUID()}`
        if (runs.has(runId)) return yield* new RunConflict({ runId, reason: "a run with this id exists already" })
        const run = newRun(runId, agentName, identity.subject, "running")
        runs.set(runId, run)
        yield* drive(run, agent, agent.backend.stream({ input: input.input, runId })).pipe(
          Effect.mapError((error) => {
            if (error._tag === "RunAlreadyExists") {
              runs.delete(runId)
              return new RunConflict({ runId, reason: "a run with this id exists already in the run store" })
            }
            return new RunFailed({ runId, reason: Redaction.text(error.message, secrets) })
          })
        )
        return run
      }),

    get: find,

    list: (status) =>
      Effect.sync(() =>
        [...runs.values()]
          .filter((run) => status === undefined || run.status === status)
          .sort((a, b) => order[a.status] - order[b.status] || b.updatedAt - a.updatedAt)
          .map(summary)
      ),

    decide: (identity, runId, approvalId, body) =>
      Effect.flatMap(find(runId), (run) =>
        run.lock.withPermits(1)(
          Effect.gen(function* () {
            const previous = run.decisions.get(approvalId)
            if (previous !== undefined) {
              return yield* new AlreadyDecided({ runId, approvalId, decidedBy: previous.decidedBy, approved: previous.approved })
            }
            const agent = served.get(run.agent)!
            // The stored state is the authority (another process may have decided meanwhile).
            const state = yield* agent.backend.getRun(runId).pipe(
              Effect.mapError((error) => new DecisionRejected({ runId, reason: Redaction.text(error.message, secrets) }))
            )
            const stored = Option.getOrUndefined(state)
            const pending = stored?.pending.find((p) => p.approvalId === approvalId)
            if (pending === undefined || stored === undefined) {
              // An approval this run asked for and no longer has pending was decided (here or elsewhere).
              return yield* run.paths.has(approvalId) ? new AlreadyDecided({ runId, approvalId }) : new ApprovalNotFound({ runId, approvalId })
            }
            if (stored.decisions?.some((d) => d.approvalId === approvalId) === true || stored.status !== "suspended") {
              return yield* new AlreadyDecided({ runId, approvalId })
            }
            if (pending.expiresAt !== undefined && pending.expiresAt <= Date.now()) {
              return yield* new ApprovalExpired({ runId, approvalId, expiredAt: pending.expiresAt })
            }
            const reason = body.reason?.trim() === "" ? undefined : body.reason
            const by = identity.subject
            const decision = body.approved
              ? Approval.approve(pending, { by, ...(reason === undefined ? {} : { reason }) })
              : Approval.deny(pending, reason ?? `Denied by ${by}`, { by })
            yield* drive(run, agent, agent.backend.resumeStream(runId, [decision])).pipe(Effect.mapError(rejected(runId, approvalId, run)))
            const made: DecisionRecord = {
              approvalId,
              toolName: pending.toolName,
              approved: body.approved,
              decidedBy: by,
              ...(decision.reason === undefined ? {} : { reason: Redaction.text(decision.reason, secrets) }),
              at: Date.now()
            }
            run.decisions.set(approvalId, made)
            return made
          })
        )
      ),

    byApproval: (approvalId) =>
      Effect.suspend(() => {
        for (const run of runs.values()) if (run.pending.some((p) => p.approvalId === approvalId)) return Effect.succeed(run)
        return Effect.fail(new ApprovalNotFound({ runId: "", approvalId }))
      }),

    interrupt: (runId) =>
      Effect.flatMap(find(runId), (run) =>
        run.fiber === undefined
          ? Effect.fail(new RunConflict({ runId, reason: `it is not running (status ${run.status})` }))
          : Effect.as(Fiber.interrupt(run.fiber), summary(run))
      ),

    stats: Effect.sync(() => ({ runs: runs.size, waiting: [...runs.values()].reduce((sum, run) => sum + run.log.waiting, 0) }))
  }
}

/**
 * The handlers of the HTTP API (`Api`) over the `Runs` service, and the `Authentication` middleware over the
 * `Authenticator` service. Every authenticated identity reads; the handlers that change something check the
 * identity's permission first: an approver decides, an admin starts and interrupts runs.
 *
 * @since 0.1.0
 */
import type { AgentEvent } from "@agentloop/core"
import { Effect, Layer, Option, Schema, Stream } from "effect"
import { AgUi as EffectAgUi, type AgUiSchema } from "effect/ai"
import { HttpApiBuilder } from "effect/http-api"
import { Authentication, CurrentIdentity, ServerApi } from "./Api.js"
import * as AgUi from "./AgUi.js"
import * as Auth from "./Auth.js"
import { Forbidden, type Frame, InvalidAgUiInput, RunId, Unauthorized } from "./Model.js"
import * as RunLog from "./RunLog.js"
import { detail, type Run, Runs } from "./Runs.js"

/** Fails with `Forbidden` unless the current identity has `permission`. */
export const require = (permission: Auth.Permission) =>
  Effect.flatMap(CurrentIdentity, (identity) =>
    Auth.allows(identity.role, permission)
      ? Effect.succeed(identity)
      : Effect.fail(
          new Forbidden({
            message: `${identity.subject} is a ${identity.role}; this needs the ${Auth.roleFor(permission)} role or above`,
            required: Auth.roleFor(permission)
          })
        )
  )

/** `Authentication` over the `Authenticator` service. */
export const layerAuthentication = Layer.effect(
  Authentication,
  Effect.map(Auth.Authenticator, (authenticator) =>
    Authentication.of({
      bearer: (httpEffect, { credential }) =>
        Effect.gen(function* () {
          const identity = yield* authenticator.authenticate(credential)
          if (Option.isNone(identity)) {
            return yield* new Unauthorized({ message: "A valid bearer token is required (Authorization: Bearer <token>)" })
          }
          return yield* Effect.provideService(httpEffect, CurrentIdentity, identity.value)
        })
    })
  )
)

/** A cursor from `Last-Event-ID` (or `?after=`): the number of the last event the client has. */
export const cursorOf = (lastEventId: string | undefined, after: string | undefined): number => {
  const raw = lastEventId ?? after
  if (raw === undefined) return 0
  const n = Number(raw)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

export const layerRuns = HttpApiBuilder.group(ServerApi, "runs", (handlers) =>
  Effect.gen(function* () {
    const runs = yield* Runs
    return handlers
      .handle("me", () =>
        Effect.map(CurrentIdentity, (identity) => ({
          subject: identity.subject,
          role: identity.role,
          permissions: (["read", "decide", "operate"] as const).filter((p) => Auth.allows(identity.role, p))
        }))
      )
      .handle("agents", () => Effect.succeed({ agents: runs.agents }))
      .handle("start", ({ params, payload }) =>
        Effect.gen(function* () {
          const identity = yield* require("operate")
          const run = yield* runs.start(identity, params.agent, payload)
          return RunLog.follow(run.log, 0) as Stream.Stream<Frame>
        })
      )
      .handle("list", ({ query }) => Effect.map(runs.list(query.status), (list) => ({ runs: list })))
      .handle("get", ({ params }) => Effect.map(runs.get(params.runId), detail))
      .handle("events", ({ params, headers, query }) =>
        Effect.map(runs.get(params.runId), (run) => RunLog.follow(run.log, cursorOf(headers["last-event-id"], query.after)))
      )
      .handle("audit", ({ params }) =>
        Effect.map(runs.get(params.runId), (run) => ({ runId: run.runId, entries: run.audit }))
      )
      .handle("decide", ({ params, payload }) =>
        Effect.gen(function* () {
          const identity = yield* require("decide")
          const made = yield* runs.decide(identity, params.runId, params.approvalId, payload)
          return { runId: params.runId, approvalId: made.approvalId, approved: made.approved, decidedBy: made.decidedBy }
        })
      )
      .handle("interrupt", ({ params }) => Effect.andThen(require("operate"), runs.interrupt(params.runId)))
      .handle("agui", ({ params, payload }) =>
        Effect.gen(function* () {
          const resume = payload.resume ?? []
          let run: Run
          let cursor = 0
          if (resume.length > 0) {
            const identity = yield* require("decide")
            run = yield* runs.byApproval(resume[0]!.interruptId)
            cursor = run.log.last
            for (const entry of resume) yield* runs.decide(identity, run.runId, entry.interruptId, AgUi.decisionOf(entry))
          } else {
            const identity = yield* require("operate")
            const prompt = AgUi.promptOf(payload)
            if (prompt === undefined) return yield* new InvalidAgUiInput({ reason: "messages has no user message and resume is empty" })
            run = yield* runs.start(identity, params.agent, { input: prompt, ...(isRunId(payload.runId) ? { runId: payload.runId } : {}) })
          }
          return aguiEvents(run, cursor, payload)
        })
      )
  })
)


const isRunId = Schema.is(RunId)

/** The run's events from `cursor` to the end of this segment (its next `RunFinished`, failure or interruption), as AG-UI events. */
const aguiEvents = (run: Run, cursor: number, input: AgUiSchema.RunAgentInput): Stream.Stream<AgUiSchema.Event> => {
  const translation = AgUi.translation(input.threadId, input.runId)
  return RunLog.follow(run.log, cursor).pipe(
    Stream.filter((frame) => frame.event !== "gap"),
    Stream.takeUntil((frame) => frame.event === "RunFinished" || frame.event === "failed" || frame.event === "interrupted"),
    Stream.flatMap((frame): Stream.Stream<AgUiSchema.Event> => {
      if (frame.event === "failed" || frame.event === "interrupted") {
        return Stream.make({ type: "RUN_ERROR", message: frame.event === "failed" ? `The run failed: ${run.error ?? "unknown error"}` : "The run was interrupted", code: frame.event })
      }
      const event = JSON.parse(frame.data) as AgentEvent.AgentEvent
      return Stream.fromIterable(AgUi.toEvents(translation, event, event._tag === "RunFinished" ? run.pending : []))
    }),
    EffectAgUi.withRunLifecycle({ threadId: input.threadId, runId: input.runId })
  )
}

/**
 * A Heroku tool's handler: it checks the grant, the arguments, the app or pipeline and the approval itself,
 * whoever calls it, writes the intent entry before the call (fail closed) and the outcome after it, also when
 * the call is interrupted.
 *
 * @internal
 */
import type { Tool } from "@agentloop/core"
import { Effect, Result } from "effect"
import { type Entry, redactArguments } from "../AuditLog.js"
import * as Grant from "../Grant.js"
import * as Id from "../Identifiers.js"
import type { Ids } from "../Operations.js"
import * as R from "../Resources.js"
import { describeDecodeError } from "./decodeError.js"
import { call, type HandlerDeps, scrubbed } from "./toolCall.js"
import { failure, type ToolFailure } from "./toolFailure.js"
import { decodeParameters } from "./toolParameters.js"

export const handlerFor =
  (deps: HandlerDeps): Tool.AnyHandlerFn =>
  (raw: unknown, context) => {
    const { audit, grant, operation, scope } = deps
    // Until the arguments are checked they are whatever the caller passed: only a string app is named.
    let params = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>
    let given = typeof params["app"] === "string" ? Id.canonical(params["app"]) : undefined
    const entry = (fields: Pick<Entry, "kind" | "decision" | "outcome"> & Partial<Entry>): Entry => ({
      at: new Date().toISOString(),
      runId: context.runId,
      agent: grant.agent,
      tool: operation.tool,
      toolCallId: context.toolCallId,
      ...(given === undefined ? {} : { app: given }),
      arguments: redactArguments(params, scope.secrets()),
      ...(context.approval?.decidedBy === undefined ? {} : { by: context.approval.decidedBy }),
      ...(context.approval?.reason === undefined ? {} : { reason: context.approval.reason }),
      ...fields
    })
    const refuse = (problem: ToolFailure, by: string, app?: Pick<Entry, "app" | "appId">) =>
      audit
        .record(entry({ kind: "refusal", decision: "refused", by, reason: problem.message, outcome: "not_run", ...app }))
        .pipe(Effect.ignore, Effect.andThen(Effect.fail(problem)))

    return Effect.gen(function* () {
      // 1. The grant allows the tool.
      if (!Grant.allows(grant, operation)) {
        return yield* refuse(failure("GrantDenied", `This agent's grant does not allow ${operation.tool}.`), "grant")
      }
      // 2. The arguments are what the tool's Schema says, whoever calls: an app given as ["prod"], or as an
      //    object whose toString says "prod", never reaches a path.
      const decoded = decodeParameters(operation)(raw)
      if (Result.isFailure(decoded)) {
        return yield* refuse(
          failure("InvalidArguments", `The arguments do not match ${operation.tool}'s parameters: ${describeDecodeError(decoded.failure)}`),
          "handler"
        )
      }
      params = decoded.success
      given = typeof params["app"] === "string" ? Id.canonical(params["app"]) : undefined
      // 3. The app or pipeline, resolved when the grant lists them (so name, id and case are one thing).
      const pathParams: Record<string, unknown> = { ...params }
      const target: { app?: string; appId?: string } = given === undefined ? {} : { app: given }
      if (given !== undefined) {
        const resolved = yield* Effect.catch(scope.app(given), (problem) => refuse(problem, "grant"))
        pathParams["app"] = resolved.segment
        target.app = resolved.label
        if (resolved.id !== undefined) target.appId = resolved.id
      }
      if (typeof params["pipeline"] === "string") {
        const resolved = yield* Effect.catch(scope.pipeline(params["pipeline"]), (problem) => refuse(problem, "grant"))
        pathParams["pipeline"] = resolved.segment
      }
      // Further apps the call acts on (a promotion's targets) are granted one by one, like `app`.
      const targets: Array<string> = []
      for (const app of operation.targets?.(params) ?? []) {
        targets.push((yield* Effect.catch(scope.app(app), (problem) => refuse(problem, "grant", target))).segment)
      }
      // 4. The approval, checked here too: a handler called by anything but the loop must not run ungated.
      if (Grant.needsApproval(grant, operation) && context.approval === undefined) {
        return yield* refuse(failure("ApprovalRequired", `${operation.tool} needs a human's approval, and this call has none.`), "handler", target)
      }
      const decision: Entry["decision"] =
        context.approval !== undefined ? "approved" : Grant.autoApproves(grant, operation) ? "auto_approved" : "allowed"
      // The Postgres tools read the app's config (its database URL): learn its values first, so the intent
      // entry already scrubs them from the arguments (SQL that quotes the database password).
      if (deps.perform !== undefined && typeof pathParams["app"] === "string") yield* scope.learnApp(pathParams["app"])
      // 5. Intent before the call. If the log cannot take it, the call does not happen.
      yield* audit.record(entry({ kind: "intent", decision, outcome: "pending", ...target })).pipe(
        Effect.mapError((error) => failure("AuditUnavailable", `Not run: ${error.message}`))
      )
      const outcome = (fields: Pick<Entry, "outcome"> & Partial<Entry>) =>
        audit.record(entry({ kind: "outcome", decision, ...target, ...fields })).pipe(
          // The call already happened: its result stands; the missing outcome entry is logged loudly.
          Effect.catch((error) => Effect.logError(`audit outcome for ${context.toolCallId} not recorded: ${error.message}`))
        )
      // 6. Without an app list nothing resolved the app yet: ask Heroku for its id and name, so the outcome
      //    names the app the same way however the model spelled it (unless the answer is the app itself).
      //    Endpoints that take ids only get the pipeline's and the targets' ids the same way.
      const identify = Effect.gen(function* () {
        if (given !== undefined && target.appId === undefined && operation.result !== R.App) {
          const identity = yield* scope.identify(given)
          pathParams["app"] = identity.id
          target.app = identity.name
          target.appId = identity.id
        }
        if (operation.needsIds !== true) return
        const pipeline = pathParams["pipeline"]
        if (typeof pipeline === "string" && !Id.isUuid(pipeline)) pathParams["pipeline"] = (yield* scope.identifyPipeline(pipeline)).id
        for (let i = 0; i < targets.length; i++) if (!Id.isUuid(targets[i]!)) targets[i] = (yield* scope.identify(targets[i]!)).id
      })
      const ids = (): Ids => ({ app: pathParams["app"] as string | undefined, pipeline: pathParams["pipeline"] as string | undefined, targets })
      return yield* identify.pipe(
        Effect.catch((error) => Effect.flip(scrubbed(deps, given, error))),
        Effect.andThen(Effect.suspend(() => call(deps, params, pathParams, ids(), context, target.app))),
        Effect.tap(({ identity }) =>
          Effect.sync(() => {
            if (identity !== undefined) Object.assign(target, { app: identity.name, appId: identity.id })
          })
        ),
        Effect.onInterrupt(() => outcome({ outcome: "interrupted", error: "the call was interrupted; whether Heroku applied it is unknown" })),
        Effect.tapError((problem) =>
          outcome({ outcome: "error", error: problem.message, ...(problem.requestId === undefined ? {} : { requestId: problem.requestId }) })
        ),
        Effect.tap(({ requestId, secondFactorBy }) =>
          outcome({
            outcome: "success",
            ...(requestId === undefined ? {} : { requestId }),
            ...(secondFactorBy === undefined ? {} : { reason: `second factor supplied by ${secondFactorBy}` })
          })
        ),
        Effect.map(({ value }) => value)
      )
    })
  }

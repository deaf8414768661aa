/**
 * The Platform API as agent tools. `toolkit(grant)` offers only what the grant allows, with approvals on
 * the risky ones; `layer(grant)` provides the handlers. Each handler checks for itself, whoever calls it:
 *
 * 1. the grant allows the tool; the arguments match the tool's Schema (decoded again: a direct caller may
 *    pass anything); the app or pipeline is granted (resolved to Heroku's id, so name, id and a later
 *    rename all mean the same app);
 * 2. the call holds an approval when its risks need one (or the grant auto-approves the tool by name);
 * 3. the audit log took the intent entry (fail closed), then it calls Heroku and records the outcome,
 *    naming the app by Heroku's id and name, also when the call is interrupted;
 * 4. everything it returns, fails with or audits is scrubbed of secrets (config values it has seen for the
 *    app, their credential parts, and secret-shaped strings); a list the grant filters never shows what it
 *    hides, not even through its next range.
 *
 * Each layer keeps its state (resolved apps, known secrets) in its own closure: two agents with two grants
 * share nothing but the client (and its rate-limit bucket).
 *
 * @since 0.1.0
 */
import { Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, Option, Result, Schema } from "effect"
import { AuditLog, type Entry, redactArguments, type Service as AuditService } from "./AuditLog.js"
import * as Grant from "./Grant.js"
import { HerokuClient, type Response, type Service as Client } from "./HerokuClient.js"
import type { HerokuError } from "./HerokuError.js"
import * as Id from "./Identifiers.js"
import { describeDecodeError } from "./internal/decodeError.js"
import * as GrantedPages from "./internal/grantedPages.js"
import { identityOf, make as makeScope, type Scope } from "./internal/scope.js"
import { alwaysGated, byTool, type Ids, type Operation, operations, pathOf } from "./Operations.js"
import type { InvalidRange } from "./Range.js"
import { MAX_PAGE_SIZE } from "./Range.js"
import * as Redaction from "./Redaction.js"
import * as R from "./Resources.js"
import { type Service as TwoFactorService, TwoFactor } from "./TwoFactor.js"

/** What the model sees when a call fails: Heroku's own id and message, and the Request-Id for support. */
export const ToolFailure = Schema.Struct({
  error: Schema.String,
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  id: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String)
})
export type ToolFailure = typeof ToolFailure.Type

export const REDACTED = Redaction.REDACTED

/** Lists return one page; `nextRange` fetches the next. */
const listParameters = {
  max: Schema.optional(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_PAGE_SIZE })).annotate({
      description: "How many items (default 100, at most 1000)."
    })
  ),
  range: Schema.optional(
    Schema.String.annotate({ description: "The nextRange of a previous page, to continue." }).check(
      Schema.isMaxLength(500),
      Schema.isPattern(/^[\x20-\x7e]*$/u)
    )
  )
}

const listResult = (item: Schema.Top) => Schema.Struct({ items: Schema.Array(item), nextRange: Schema.optional(Schema.String) })

/** The tool for one operation, with approval set by the grant. */
export const toolFor = (operation: Operation, grant: Grant.Grant): Tool.Any =>
  Tool.make(operation.tool, {
    description: operation.description,
    parameters: operation.list === undefined ? operation.parameters : { ...operation.parameters, ...listParameters },
    success: operation.list === undefined ? operation.result : listResult(operation.result),
    failure: ToolFailure,
    requiresApproval: Grant.needsApproval(grant, operation)
  }) as unknown as Tool.Any

/**
 * MCP-style safety hints for a tool, from its operation's metadata: reads are read-only, every always-gated
 * risk (deletes, deploys, runtime changes, access removal, taking an app offline) is destructive, GET/PUT/DELETE are idempotent, and every tool reaches the outside world (Heroku).
 */
/** Tools whose every call restarts dynos again (Heroku models a restart as DELETE on the dynos). */
const restarts = (tool: string): boolean => tool.startsWith("heroku_dynos_restart")

export const annotations = (
  tool: string
): { readonly readOnlyHint: boolean; readonly destructiveHint: boolean; readonly idempotentHint: boolean; readonly openWorldHint: true } | undefined => {
  const operation = byTool.get(tool)
  return operation === undefined ? undefined : annotationsOf(operation)
}

/** The hints of one operation (also for operations outside `Operations.operations`, such as the Postgres tools). */
export const annotationsOf = (
  operation: Operation
): { readonly readOnlyHint: boolean; readonly destructiveHint: boolean; readonly idempotentHint: boolean; readonly openWorldHint: true } => ({
  readOnlyHint: operation.access === "read",
  destructiveHint: operation.approval === "always" || operation.risks.some((risk) => alwaysGated.includes(risk)),
  // A DELETE on dynos is a restart: every call restarts again, so it is not idempotent whatever its method.
  idempotentHint: (operation.method === "GET" || operation.method === "PUT" || operation.method === "DELETE") && !restarts(operation.tool),
  openWorldHint: true
})

/** The operations a grant allows. */
export const allowedOperations = (grant: Grant.Grant): ReadonlyArray<Operation> =>
  operations.filter((operation) => Grant.allows(grant, operation))

/**
 * The tools a grant allows, and only those. An empty grant gives an empty toolkit. One toolkit per grant
 * (the same object each time): `layer(grant)` serves exactly the agents built on `toolkit(grant)`, so two
 * agents with different grants in one context never reach each other's handlers.
 */
export const toolkit = (grant: Grant.Grant): Toolkit.Toolkit<Record<string, Tool.Any>> => {
  let made = toolkits.get(grant)
  if (made === undefined) {
    made = toolkitOf(allowedOperations(grant), grant)
    toolkits.set(grant, made)
  }
  return made
}

/**
 * A toolkit of these operations' tools, approvals set by the grant (the Postgres tools use it too).
 *
 * @internal
 */
export const toolkitOf = (operations: ReadonlyArray<Operation>, grant: Grant.Grant): Toolkit.Toolkit<Record<string, Tool.Any>> =>
  Toolkit.make(...operations.map((operation) => toolFor(operation, grant)))

const toolkits = new WeakMap<Grant.Grant, Toolkit.Toolkit<Record<string, Tool.Any>>>()

/** Handlers for the grant's tools, over `HerokuClient`, writing to `AuditLog` (and asking `TwoFactor`, if provided). */
export const layer = (grant: Grant.Grant): Layer.Layer<Tool.Handler<string>, never, HerokuClient | AuditLog> =>
  toolkit(grant).toLayer(handlersFor(grant, allowedOperations(grant)))

/**
 * What a call of an operation that is not one Platform API request (the Postgres tools) runs instead of it,
 * once the handler checked the grant, the arguments, the app and the approval and wrote the intent entry.
 * Its value is decoded with the operation's `result` and scrubbed like any other result, its failures too.
 *
 * @internal
 */
export type Performer = (input: {
  readonly operation: Operation
  readonly params: Record<string, any>
  /** The app as sent to Heroku: its id once resolved. */
  readonly app: string | undefined
  /** Its name, when known (for the audit, and for endpoints that want names). */
  readonly appName: string | undefined
  readonly scope: Scope
  readonly context: Tool.HandlerContext
}) => Effect.Effect<{ readonly value: unknown; readonly requestId?: string | undefined }, ToolFailure> | undefined

/**
 * The handlers of `operations` under `grant` (each checks for itself, see the module's comment); `perform`
 * runs the calls of the operations it answers for.
 *
 * @internal
 */
export const handlersFor = (
  grant: Grant.Grant,
  operations: ReadonlyArray<Operation>,
  perform?: Performer
): Effect.Effect<Record<string, Tool.AnyHandlerFn>, never, HerokuClient | AuditLog> =>
  Effect.gen(function* () {
    const client = yield* HerokuClient
    const audit = yield* AuditLog
    const twoFactor = yield* Effect.serviceOption(TwoFactor)
    const handlers: Record<string, Tool.AnyHandlerFn> = {}
    const scope = makeScope(grant, client)
    for (const operation of operations) {
      handlers[operation.tool] = handlerFor({ operation, grant, client, audit, twoFactor, scope, ...(perform === undefined ? {} : { perform }) })
    }
    return handlers
  })

const failure = (error: string, message: string, extra: Partial<ToolFailure> = {}): ToolFailure => ({ error, message, ...extra })

/**
 * A Heroku error as the model sees it, scrubbed of `secrets`.
 *
 * @internal
 */
export const fromHerokuError = (error: HerokuError | InvalidRange, secrets: Redaction.Known): ToolFailure =>
  "status" in error
    ? failure(error._tag, Redaction.text(error.message, secrets), {
        status: error.status,
        id: error.id,
        ...(error.requestId === undefined ? {} : { requestId: error.requestId })
      })
    : failure(error._tag, Redaction.text(error.message, secrets), "requestId" in error && error.requestId !== undefined ? { requestId: error.requestId } : {})

// ---------------------------------------------------------------------------------------------------------
// The handler.

interface HandlerDeps {
  readonly operation: Operation
  readonly grant: Grant.Grant
  readonly client: Client
  readonly audit: AuditService
  readonly twoFactor: Option.Option<TwoFactorService>
  readonly scope: Scope
  readonly perform?: Performer
}

/** Each operation's parameters as the handler checks them (the loop decoded them already; a direct caller may not have). */
const parameterDecoders = new WeakMap<Operation, (input: unknown) => Result.Result<Record<string, unknown>, Schema.SchemaError>>()
const decodeParameters = (operation: Operation) => {
  let decode = parameterDecoders.get(operation)
  if (decode === undefined) {
    const fields = operation.list === undefined ? operation.parameters : { ...operation.parameters, ...listParameters }
    decode = Schema.decodeUnknownResult(Schema.Struct(fields) as unknown as Schema.Codec<Record<string, unknown>, unknown>, {
      errors: "all",
      onExcessProperty: "ignore"
    })
    parameterDecoders.set(operation, decode)
  }
  return decode
}

const handlerFor =
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

/** A Heroku error as the model sees it: first learn the app's config values, so the message is scrubbed of them too. */
const scrubbed = ({ scope }: HandlerDeps, appSegment: string | undefined, error: HerokuError | InvalidRange) =>
  Effect.andThen(appSegment === undefined ? Effect.void : scope.learnApp(appSegment), Effect.sync(() => fromHerokuError(error, scope.secrets())))

interface Called {
  readonly value: unknown
  readonly requestId: string | undefined
  readonly secondFactorBy?: string | undefined
  /** The app the answer is (for operations that return an app): its id and name, for the audit. */
  readonly identity?: Grant.Identity | undefined
}

/** Calls Heroku for one operation and shapes the answer for the model. */
const call = (
  deps: HandlerDeps,
  params: Record<string, any>,
  pathParams: Record<string, unknown>,
  ids: Ids,
  context: Tool.HandlerContext,
  label: string | undefined
): Effect.Effect<Called, ToolFailure> => {
  const { client, grant, operation, scope } = deps
  const path = pathOf(operation, pathParams)
  const appSegment = typeof pathParams["app"] === "string" ? pathParams["app"] : undefined
  const scrubbedFailure = (error: HerokuError | InvalidRange) => scrubbed(deps, appSegment, error)
  const decode = (body: unknown, schema: Schema.Top, requestId: string | undefined) =>
    Schema.decodeUnknownEffect(schema as Schema.Codec<unknown, unknown>)(body).pipe(
      Effect.mapError((error) =>
        failure("HerokuInvalidResponse", `Heroku answered ${operation.method} ${operation.template} with an unexpected body: ${describeDecodeError(error)}`, {
          ...(requestId === undefined ? {} : { requestId })
        })
      )
    )
  const shown = (value: unknown) => {
    if (operation.group === "config_vars") {
      scope.learn(value)
      return grant.secrets ? value : Redaction.values(value)
    }
    return Redaction.deep(value, scope.secrets())
  }
  const performing = deps.perform?.({ operation, params, app: appSegment, appName: label, scope, context })
  if (performing !== undefined) {
    return performing.pipe(
      Effect.mapError((problem) => ({ ...problem, message: Redaction.text(problem.message, scope.secrets()) })),
      Effect.flatMap(({ value, requestId }) => Effect.map(decode(value, operation.result, requestId), (decoded) => ({ value: shown(decoded), requestId })))
    )
  }
  const restricted = restrictedOwner(deps)
  if (operation.list !== undefined) {
    const own = operation.filter?.(params)
    const granted = restricted === undefined ? undefined : (item: unknown) => scope.owned(restricted.kind, restricted.of(item))
    const keep = granted === undefined ? own : own === undefined ? granted : (item: unknown) => own(item) && granted(item)
    const max = params["max"] as number | undefined
    const given = params["range"] as string | undefined
    const page: Effect.Effect<GrantedPages.GrantedPage, HerokuError | InvalidRange> =
      keep === undefined
        ? client.page(path, {
            range: given ?? { field: operation.list.field, max: max ?? 100, ...(operation.list.order === undefined ? {} : { order: operation.list.order }) },
            template: operation.template
          })
        : Effect.andThen(
            restricted === undefined ? Effect.void : scope.prime(restricted.kind),
            GrantedPages.page({ client, path, template: operation.template, field: operation.list.field, order: operation.list.order, max, range: given, keep })
          )
    return page.pipe(
      Effect.catch((error) => Effect.flip(scrubbedFailure(error))),
      Effect.flatMap((page) =>
        Effect.map(decode(page.items, Schema.Array(operation.result), page.requestId), (items) => ({
          value: { items: shown(items), ...(page.nextRange === undefined ? {} : { nextRange: page.nextRange }) },
          requestId: page.requestId
        }))
      )
    )
  }
  // Calls before the main one (a source upload) add to what the body is made of; computed once, sent again with a second factor.
  let body: unknown
  const prepare = (operation.before === undefined ? Effect.succeed({}) : operation.before(params, ids, client)).pipe(
    Effect.map((extra) => {
      body = operation.body?.({ ...params, ...extra }, ids)
    })
  )
  const send = (twoFactorCode?: Parameters<Client["request"]>[0]["twoFactorCode"]): Effect.Effect<Response, HerokuError> =>
    operation.api === "inference"
      ? Effect.map(client.external({ method: "GET", url: `${client.inferenceUrl}${path}`, label: "(Managed Inference)" }), (text) => ({
          status: 200,
          body: parsedOrText(text),
          requestId: undefined,
          rateLimitRemaining: undefined,
          nextRange: undefined
        }))
      : client.request({
      method: operation.method,
      path,
      template: operation.template,
      ...(body === undefined ? {} : { body }),
      ...(twoFactorCode === undefined ? {} : { twoFactorCode })
    })
  const withSecondFactor = Effect.andThen(prepare, Effect.suspend(() => send())).pipe(
    Effect.map((response) => ({ response, secondFactorBy: undefined as string | undefined })),
    Effect.catchIf(
      (error: HerokuError) => "id" in error && error.id === "two_factor" && Option.isSome(deps.twoFactor),
      (error) =>
        Effect.flatMap(
          Option.getOrThrow(deps.twoFactor).request({ runId: context.runId, toolCallId: context.toolCallId, agent: grant.agent, tool: operation.tool, app: label }),
          Option.match({
            onNone: () => Effect.fail(error),
            onSome: (answer) => Effect.map(send(answer.code), (response) => ({ response, secondFactorBy: answer.by ?? "unknown" }))
          })
        )
    )
  )
  // A result found by its own id (an add-on): under an allow-list, shown only when it belongs to a granted
  // app, and whatever Heroku says otherwise (even "not found") reads "denied".
  const denied = () => failure("GrantDenied", `This agent's grant does not cover the ${restricted!.kind} this ${operation.group} belongs to.`)
  return withSecondFactor.pipe(
    Effect.catch((error) => Effect.flip(restricted === undefined ? scrubbedFailure(error) : Effect.succeed(denied()))),
    Effect.tap((answer) =>
      restricted === undefined
        ? Effect.void
        : Effect.andThen(scope.prime(restricted.kind), Effect.suspend(() => (scope.owned(restricted.kind, restricted.of(answer.response.body)) ? Effect.void : Effect.fail(denied()))))
    ),
    Effect.flatMap(({ response, secondFactorBy }): Effect.Effect<Called, ToolFailure> => {
      if (operation.tool === "heroku_logs_read") {
        return Effect.map(readLogs(deps, response.body, response.requestId, appSegment), (called) => ({ ...called, secondFactorBy }))
      }
      const answered: Effect.Effect<unknown, ToolFailure> =
        operation.after === undefined
          ? Effect.succeed(response.body)
          : Effect.suspend(() => {
              // An answer of config vars (an inference endpoint's key) is learnt first: what follows is scrubbed of it.
              if (operation.scope === "read-protected") scope.learn(response.body)
              return Effect.catch(operation.after!(response.body, params, ids, client), (error) => Effect.flip(scrubbedFailure(error)))
            })
      return Effect.flatMap(answered, (answer) => {
        const presented = operation.present === undefined ? answer : operation.present(answer, params)
        return Effect.map(decode(presented, operation.result, response.requestId), (value) => {
        track(deps, value)
        const owner = operation.owner?.kind === "app" ? operation.owner.of(value) : undefined
        const identity = operation.result === R.App ? identityOf(value) : owner?.name === undefined ? undefined : { id: owner.id, name: owner.name }
        return { value: shown(value), requestId: response.requestId, secondFactorBy, identity }
        })
      })
    })
  )
}

/** Keeps the grant's view of apps and pipelines current after creates, renames and deletes. */
const track = ({ grant, operation, scope }: HandlerDeps, value: unknown) => {
  const identity = identityOf(value)
  if (identity === undefined) return
  if ((operation.tool === "heroku_apps_create" || operation.tool === "heroku_team_apps_create") && grant.apps !== undefined) scope.pinApp(identity)
  if (operation.tool === "heroku_app_setups_create" && grant.apps !== undefined) {
    const app = identityOf((value as { app?: unknown }).app)
    if (app !== undefined) scope.pinApp(app)
  }
  if (operation.tool === "heroku_apps_update") scope.pinApp(identity)
  if (operation.tool === "heroku_apps_delete") scope.forgetApp(identity)
  if (operation.tool === "heroku_pipelines_create" && grant.pipelines !== undefined) scope.pinPipeline(identity)
}

/**
 * What the grant hides of an operation's results: those of apps (or pipelines) outside its allow-list, for
 * operations whose results name their owner (`Operation.owner`); `undefined` when nothing is hidden.
 * Lists are paged by `GrantedPages`, so nothing about hidden items leaks through the range either.
 */
const restrictedOwner = ({ grant, operation }: HandlerDeps): Operation["owner"] | undefined => {
  const owner = operation.owner
  if (owner === undefined) return undefined
  return (owner.kind === "app" ? grant.apps : grant.pipelines) === undefined ? undefined : owner
}

const LOG_TEXT_LIMIT = 20_000

/** A log session answers with a bearer URL; fetch the lines and never hand the URL to the model. */
const readLogs = ({ client, scope }: HandlerDeps, body: unknown, requestId: string | undefined, appSegment: string | undefined) => {
  const session = (body ?? {}) as { id?: unknown; logplex_url?: unknown }
  if (typeof session.logplex_url !== "string" || typeof session.id !== "string") {
    return Effect.fail(failure("HerokuInvalidResponse", "the log session has no logplex_url", requestId === undefined ? {} : { requestId }))
  }
  const url = session.logplex_url
  return Effect.andThen(appSegment === undefined ? Effect.void : scope.learnApp(appSegment), client.getText(url)).pipe(
    Effect.mapError((error) => fromHerokuError(error, scope.secrets())),
    Effect.map((text) => {
      // Log lines print whatever the app prints, config values included: scrub them like everything else.
      const lines = Redaction.text(text.length > LOG_TEXT_LIMIT ? text.slice(text.length - LOG_TEXT_LIMIT) : text, scope.secrets())
      return { value: { logSessionId: session.id as string, lines, truncated: text.length > LOG_TEXT_LIMIT }, requestId }
    })
  )
}

const parsedOrText = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Keeps config-var names (useful to the model) and hides every value. */
export const redactValues = Redaction.values

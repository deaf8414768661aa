/**
 * One Heroku tool call, once the handler has checked it: the request (with a second factor when Heroku asks
 * for one), the grant's filter on what it returns, the answer decoded and scrubbed of secrets, and the
 * grant's view of apps and pipelines kept current.
 *
 * @internal
 */
import type { Tool } from "@agentloop/core"
import { Effect, Option, Schema } from "effect"
import type { Service as AuditService } from "../AuditLog.js"
import type * as Grant from "../Grant.js"
import type { Response, Service as Client } from "../HerokuClient.js"
import type { HerokuError } from "../HerokuError.js"
import { type Ids, type Operation, pathOf } from "../Operations.js"
import type { InvalidRange } from "../Range.js"
import * as Redaction from "../Redaction.js"
import * as R from "../Resources.js"
import type { Service as TwoFactorService } from "../TwoFactor.js"
import { describeDecodeError } from "./decodeError.js"
import * as GrantedPages from "./grantedPages.js"
import { identityOf, type Scope } from "./scope.js"
import { failure, fromHerokuError, type ToolFailure } from "./toolFailure.js"

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

export interface HandlerDeps {
  readonly operation: Operation
  readonly grant: Grant.Grant
  readonly client: Client
  readonly audit: AuditService
  readonly twoFactor: Option.Option<TwoFactorService>
  readonly scope: Scope
  readonly perform?: Performer
}

/** A Heroku error as the model sees it: first learn the app's config values, so the message is scrubbed of them too. */
export const scrubbed = ({ scope }: HandlerDeps, appSegment: string | undefined, error: HerokuError | InvalidRange) =>
  Effect.andThen(appSegment === undefined ? Effect.void : scope.learnApp(appSegment), Effect.sync(() => fromHerokuError(error, scope.secrets())))

interface Called {
  readonly value: unknown
  readonly requestId: string | undefined
  readonly secondFactorBy?: string | undefined
  /** The app the answer is (for operations that return an app): its id and name, for the audit. */
  readonly identity?: Grant.Identity | undefined
}

/** Calls Heroku for one operation and shapes the answer for the model. */
export const call = (
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

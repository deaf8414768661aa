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
import { Effect, type Layer } from "effect"
import { AuditLog } from "./AuditLog.js"
import * as Grant from "./Grant.js"
import { HerokuClient } from "./HerokuClient.js"
import { make as makeScope } from "./internal/scope.js"
import { annotations, annotationsOf } from "./internal/toolAnnotations.js"
import type { Performer } from "./internal/toolCall.js"
import { fromHerokuError, ToolFailure } from "./internal/toolFailure.js"
import { handlerFor } from "./internal/toolHandler.js"
import { listParameters, listResult } from "./internal/toolParameters.js"
import { type Operation, operations } from "./Operations.js"
import * as Redaction from "./Redaction.js"
import { TwoFactor } from "./TwoFactor.js"

export { annotations, annotationsOf, fromHerokuError, ToolFailure }
export type { Performer }

export const REDACTED = Redaction.REDACTED

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
 * The ones of `operations` a grant allows (the Postgres tools use it too).
 *
 * @internal
 */
export const allowedOf = (operations: ReadonlyArray<Operation>, grant: Grant.Grant): ReadonlyArray<Operation> =>
  operations.filter((operation) => Grant.allows(grant, operation))

/**
 * For each grant, one toolkit (the same object each time) of the tools of `operations` it allows, approvals
 * set by it (the Postgres tools use it too).
 *
 * @internal
 */
export const toolkitsOf = (operations: ReadonlyArray<Operation>): ((grant: Grant.Grant) => Toolkit.Toolkit<Record<string, Tool.Any>>) => {
  const made = new WeakMap<Grant.Grant, Toolkit.Toolkit<Record<string, Tool.Any>>>()
  return (grant) => {
    let toolkit = made.get(grant)
    if (toolkit === undefined) {
      toolkit = Toolkit.make(...allowedOf(operations, grant).map((operation) => toolFor(operation, grant)))
      made.set(grant, toolkit)
    }
    return toolkit
  }
}

/** The operations a grant allows. */
export const allowedOperations = (grant: Grant.Grant): ReadonlyArray<Operation> => allowedOf(operations, grant)

/**
 * The tools a grant allows, and only those. An empty grant gives an empty toolkit. One toolkit per grant
 * (the same object each time): `layer(grant)` serves exactly the agents built on `toolkit(grant)`, so two
 * agents with different grants in one context never reach each other's handlers.
 */
export const toolkit: (grant: Grant.Grant) => Toolkit.Toolkit<Record<string, Tool.Any>> = toolkitsOf(operations)

/** Handlers for the grant's tools, over `HerokuClient`, writing to `AuditLog` (and asking `TwoFactor`, if provided). */
export const layer = (grant: Grant.Grant): Layer.Layer<Tool.Handler<string>, never, HerokuClient | AuditLog> =>
  toolkit(grant).toLayer(handlersFor(grant, allowedOperations(grant)))

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

/** Keeps config-var names (useful to the model) and hides every value. */
export const redactValues = Redaction.values

/**
 * MCP safety hints of the Heroku tools, from their operations' metadata.
 *
 * @internal
 */
import { alwaysGated, byTool, type Operation } from "../Operations.js"

/** Tools whose every call restarts dynos again (Heroku models a restart as DELETE on the dynos). */
const restarts = (tool: string): boolean => tool.startsWith("heroku_dynos_restart")

/**
 * MCP-style safety hints for a tool, from its operation's metadata: reads are read-only, every always-gated
 * risk (deletes, deploys, runtime changes, access removal, taking an app offline) is destructive, GET/PUT/DELETE are idempotent, and every tool reaches the outside world (Heroku).
 */
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

/**
 * Every Platform API operation in the seed reference, as data: HTTP method and path, the OAuth scope it
 * needs, its capability group (for grants), its risks (for approvals), a description written for a model,
 * and Schema parameters and results.
 *
 * @since 0.1.0
 */
import { aiOperations } from "./internal/aiOperations.js"
import { coverageOperations } from "./internal/coverageOperations.js"
import { deployOperations } from "./internal/deployOperations.js"
import type { Operation, Params, Scope } from "./internal/operationKit.js"
import { platformOperations } from "./internal/platformOperations.js"

export { alwaysGated, dynoSizeRef, groups, logFilter, risks } from "./internal/operationKit.js"
export type { Group, Ids, Operation, Owner, Params, Risk, Scope } from "./internal/operationKit.js"


/** Fills `{name}` placeholders from the parameters, URL-encoded (the Schemas already exclude `/`, `.`, `..`). */
export const pathOf = (operation: Operation, params: Params): string =>
  operation.template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(params[name])))

/**
 * Every tool: the seed's endpoints, then the ones that cover what Heroku's own MCP server offers (teams,
 * spaces, the add-on catalog, pipeline couplings and promotions, stops and restarts by process type, deploys
 * from files, Managed Inference).
 */
export const operations: ReadonlyArray<Operation> = [...platformOperations, ...coverageOperations, ...deployOperations, ...aiOperations]

export const byTool: ReadonlyMap<string, Operation> = new Map(operations.map((op) => [op.tool, op]))

/** Whether a token with `scopes` may call an operation that needs `needed` (as Heroku decides it). */
export const scopeCovers = (scopes: ReadonlyArray<Scope>, needed: Scope): boolean => {
  const implied: Record<Scope, ReadonlyArray<Scope>> = {
    global: ["global", "identity", "read", "write", "read-protected", "write-protected"],
    "write-protected": ["write-protected", "read-protected", "write", "read"],
    "read-protected": ["read-protected", "read"],
    write: ["write", "read"],
    read: ["read"],
    identity: ["identity"]
  }
  return scopes.some((scope) => implied[scope].includes(needed))
}

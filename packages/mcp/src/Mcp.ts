/**
 * The entry points: `Mcp.toolkit(connection)` (an MCP server's tools as a toolkit) and
 * `Mcp.serve(toolkit, options)` (a toolkit as an MCP server).
 *
 * @since 0.1.0
 */
import type { Tool, Toolkit } from "@agentloop/core"
import { Effect, type Scope } from "effect"
import type { McpServeError } from "./McpError.js"
import * as McpHttp from "./McpHttp.js"
import * as McpServer from "./McpServer.js"

export { type Connection, http, stdio } from "./McpConnection.js"
export type { Handle as ServeHandle } from "./McpServer.js"
export { layerLocal, make as toolkit, type McpToolkit, type Options as ToolkitOptions, type Snapshot } from "./McpToolkit.js"

export type Transport = "stdio" | { readonly http: McpHttp.Options }

export interface ServeOptions extends McpServer.Options {
  readonly transport: Transport
}

/**
 * Serves the toolkit (its handlers come from context, with the optional `Approvals` and `EventObserver`)
 * until the scope closes. A tool without a handler in context fails with `MissingHandlers` before anything is served.
 */
export const serve = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>,
  options: ServeOptions
): Effect.Effect<McpServer.Handle, McpServeError | Toolkit.MissingHandlers, Scope.Scope | Toolkit.HandlerIds<Tools>> =>
  Effect.flatMap(McpServer.factory(toolkit, options), (factory) =>
    options.transport === "stdio" ? McpServer.serveStdio(factory) : McpHttp.serveHttp(factory, options.transport.http)
  )

/**
 * @agentloop/mcp: Model Context Protocol in both directions. `Mcp.toolkit` turns an MCP server (stdio or
 * Streamable HTTP) into an agentloop toolkit; `Mcp.serve` exposes a toolkit as an MCP server.
 *
 * @since 0.1.0
 */
export * as Mcp from "./Mcp.js"
export * as McpConnection from "./McpConnection.js"
export * as McpElicitation from "./McpElicitation.js"
export * as McpError from "./McpError.js"
export * as McpHttp from "./McpHttp.js"
export * as McpOriginGuard from "./McpOriginGuard.js"
export * as McpServer from "./McpServer.js"
export * as McpToolkit from "./McpToolkit.js"

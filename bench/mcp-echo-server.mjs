// The MCP server both W5 contenders call: one `echo` tool, written with the official SDK.
// `node mcp-echo-server.mjs` serves stdio; `node mcp-echo-server.mjs http` serves Streamable HTTP on a free
// loopback port and prints {"url": ...} on stdout once listening.
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"

const makeServer = () => {
  const server = new Server({ name: "bench-echo", version: "1.0.0" }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: "echo", description: "Echo the text.", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }, annotations: { readOnlyHint: true } }]
  }))
  server.setRequestHandler(CallToolRequestSchema, (request) => ({ content: [{ type: "text", text: String(request.params.arguments?.text) }] }))
  return server
}

if (process.argv[2] === "http") {
  const sessions = new Map()
  const http = createServer(async (req, res) => {
    const id = req.headers["mcp-session-id"]
    let transport = typeof id === "string" ? sessions.get(id) : undefined
    if (transport === undefined) {
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => sessions.set(sid, transport) })
      await makeServer().connect(transport)
    }
    await transport.handleRequest(req, res)
  })
  http.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${http.address().port}/mcp` })}\n`))
  process.stdin.on("end", () => process.exit(0))
  process.stdin.resume()
} else {
  await makeServer().connect(new StdioServerTransport())
}

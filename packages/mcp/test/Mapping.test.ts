/** The pure mappings between MCP and agentloop, without I/O. */
import { Tool } from "@agentloop/core"
import { McpServer, McpToolkit } from "@agentloop/mcp"
import { describe, expect, it } from "@effect/vitest"
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { CallToolResultSchema, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import { Schema } from "effect"

describe("MCP → agentloop", () => {
  it("names: invalid characters become _, the prefix is prepended, 64 characters at most", () => {
    expect(McpToolkit.localName("", "files/read.v2")).toBe("files_read_v2")
    expect(McpToolkit.localName("gh_", "search")).toBe("gh_search")
    expect(McpToolkit.localName("", "x".repeat(100))).toHaveLength(64)
  })

  it("annotations give defaults as the MCP specification reads them: unannotated may be destructive (approval); the user's policy wins", () => {
    const inputSchema = { type: "object" as const, properties: {} }
    const tool = (annotations?: Record<string, unknown>, name = "t") => ({ name, inputSchema, ...(annotations === undefined ? {} : { annotations }) })
    const row = (t: Tool.Any) => [t.requiresApproval, t.parallel]
    // No annotations: readOnlyHint defaults to false and destructiveHint to true.
    const plain = McpToolkit.toolFor(tool(), {})
    expect([...row(plain), plain.description]).toEqual([true, false, "t"])
    expect(row(McpToolkit.toolFor(tool({ readOnlyHint: false }), {}))).toEqual([true, false])
    expect(row(McpToolkit.toolFor(tool({ readOnlyHint: false, destructiveHint: false }), {}))).toEqual([false, false])
    expect(row(McpToolkit.toolFor(tool({ destructiveHint: false }), {}))).toEqual([false, false])
    expect(row(McpToolkit.toolFor(tool({ readOnlyHint: true }), {}))).toEqual([false, true])
    // destructiveHint only means something when readOnlyHint is false.
    expect(row(McpToolkit.toolFor(tool({ readOnlyHint: true, destructiveHint: true }), {}))).toEqual([false, true])
    const hinted = McpToolkit.toolFor({ name: "rm", inputSchema, annotations: { destructiveHint: true, readOnlyHint: false, title: "Remove" } }, {})
    expect([hinted.requiresApproval, hinted.parallel, hinted.description]).toEqual([true, false, "Remove"])
    // The user's policy, then a per-tool override, win over the annotations.
    expect(McpToolkit.toolFor(tool(), { requiresApproval: () => false }).requiresApproval).toBe(false)
    expect(McpToolkit.toolFor(tool({ readOnlyHint: true }), { requiresApproval: () => true }).requiresApproval).toBe(true)
    expect(McpToolkit.toolFor(tool(), { requiresApproval: () => true, tools: { t: { requiresApproval: false } } }).requiresApproval).toBe(false)
    // An override is looked up by own name only: a tool named toString gets none from Object.prototype.
    expect(McpToolkit.toolFor(tool({ readOnlyHint: true }, "toString"), { tools: {} }).requiresApproval).toBe(false)
  })

  it("results: structured content, else text, else the content blocks", () => {
    expect(McpToolkit.resultValue({ content: [{ type: "text", text: "a" }], structuredContent: { n: 1 } })).toEqual({ n: 1 })
    expect(McpToolkit.resultValue({ content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] })).toBe("a\nb")
    const image = { type: "image" as const, data: "AAAA", mimeType: "image/png" }
    expect(McpToolkit.resultValue({ content: [image] })).toEqual([image])
  })

  it("errors: timeout, lost session (closed, HTTP 404, transport failure), JSON-RPC error", () => {
    const tag = (error: unknown) => McpToolkit.callError("s", "t", 100, error)._tag
    expect(tag(new McpError(ErrorCode.RequestTimeout, "timeout"))).toBe("McpCallTimeout")
    expect(tag(new McpError(ErrorCode.ConnectionClosed, "closed"))).toBe("McpConnectionLost")
    expect(tag(new StreamableHTTPError(404, "Session not found"))).toBe("McpConnectionLost")
    expect(tag(new TypeError("fetch failed"))).toBe("McpConnectionLost")
    const failed = McpToolkit.callError("s", "t", 100, new McpError(ErrorCode.InvalidParams, "bad"))
    expect(failed).toMatchObject({ _tag: "McpCallFailed", code: ErrorCode.InvalidParams })
    expect(McpToolkit.callError("s", "t", 100, new StreamableHTTPError(500, "oops"))).toMatchObject({ _tag: "McpCallFailed", code: 500 })
  })

  it("errors: an answer that fails the result schema (a Zod error) is McpProtocolError, and the session is not lost", () => {
    const parsed = CallToolResultSchema.safeParse({ content: "not blocks" })
    expect(parsed.success).toBe(false)
    const error = parsed.success ? undefined : parsed.error
    expect(McpToolkit.sessionLost(error)).toBe(false)
    const mapped = McpToolkit.callError("s", "t", 100, error)
    expect(mapped).toMatchObject({ _tag: "McpProtocolError", server: "s", tool: "t" })
    expect(mapped.message).toMatch(/^The server's answer is not a valid tools\/call result \(content: /)
  })
})

describe("agentloop → MCP", () => {
  it("input schemas are objects; an empty parameter struct becomes an empty object schema", () => {
    const none = Tool.make("none", { description: "x" })
    expect(McpServer.inputSchemaOf(none)).toEqual({ type: "object", properties: {} })
    const some = Tool.make("some", { description: "x", parameters: { a: Schema.String } })
    expect(McpServer.inputSchemaOf(some)).toMatchObject({ type: "object", required: ["a"] })
  })

  it("default annotations mark gated tools destructive, and say nothing about the others", () => {
    expect(McpServer.defaultAnnotations(Tool.make("g", { description: "x", requiresApproval: true }))).toEqual({ destructiveHint: true })
    expect(McpServer.defaultAnnotations(Tool.make("p", { description: "x" }))).toBeUndefined()
  })
})

/**
 * Our MCP client (`Mcp.toolkit` over Streamable HTTP) as the conformance suite's client under test. The suite
 * runs `<command> <server-url>` with the scenario in MCP_CONFORMANCE_SCENARIO: the client connects, lists the
 * tools, calls the scenario's tool, and closes (sending DELETE). It answers elicitations by accepting with no
 * content of its own: the requested schema's defaults fill the form (SEP-1034).
 */
import { Toolkit } from "@agentloop/core"
import { Mcp, McpElicitation } from "@agentloop/mcp"
import { Effect } from "effect"

const url = process.argv[process.argv.length - 1]!
const scenario = process.env["MCP_CONFORMANCE_SCENARIO"] ?? "initialize"

/** What each scenario expects the client to call after connecting. */
const calls: Record<string, ReadonlyArray<{ readonly name: string; readonly args: Record<string, unknown> }>> = {
  initialize: [],
  tools_call: [{ name: "add_numbers", args: { a: 5, b: 3 } }],
  "sse-retry": [{ name: "test_reconnection", args: {} }],
  "elicitation-sep1034-client-defaults": [{ name: "test_client_elicitation_defaults", args: {} }]
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const mcp = yield* Mcp.toolkit(Mcp.http(url), { retries: 0, elicitation: () => Effect.succeed(McpElicitation.accept({})) })
    const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
    for (const call of calls[scenario] ?? []) {
      const result = yield* Toolkit.execute(resolved, call, { runId: "conformance", toolCallId: call.name, idempotencyKey: call.name })
      process.stdout.write(`${call.name}: ${result.isError ? "error " : ""}${result.content}\n`)
      if (result.isError) return yield* Effect.fail(`${call.name} failed: ${result.content}`)
    }
  })
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)

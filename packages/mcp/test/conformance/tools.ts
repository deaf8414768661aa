/**
 * The toolkit served to the conformance suite's server scenarios: the tools those scenarios call by name
 * (`test_simple_text`, `test_error_handling`, `test_elicitation`, `test_reconnection`, `json_schema_2020_12_tool`), made with the
 * same `Tool` / `DynamicTool` a user would write.
 */
import { DynamicTool, Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, Schema } from "effect"

/** The server closes a call's stream after `CLOSE_STREAM_AFTER_MS`; `test_reconnection` takes longer. */
export const CLOSE_STREAM_AFTER_MS = 150
const RECONNECTION_CALL_MS = 600

const SimpleText = Tool.make("test_simple_text", { description: "Returns a simple text response.", success: Schema.String })

const ErrorHandling = Tool.make("test_error_handling", {
  description: "Always fails.",
  success: Schema.String,
  failure: Schema.String
})

// Our server elicits for approvals only: a gated tool makes it send `elicitation/create` related to the call.
const Elicitation = Tool.make("test_elicitation", {
  description: "Needs the user's approval, asked through elicitation.",
  parameters: { message: Schema.String },
  success: Schema.String,
  requiresApproval: true
})

// Runs longer than the server's `closeStreamAfter`: the server closes the call's stream mid-call (SEP-1699
// polling) and the suite reconnects with Last-Event-ID to get the result.
const Reconnection = Tool.make("test_reconnection", {
  description: "Takes a while: the server closes the call's stream before the result, the client resumes.",
  success: Schema.String
})

const JsonSchema2020 = DynamicTool.make("json_schema_2020_12_tool", {
  description: "Tool with JSON Schema 2020-12 features",
  parameters: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
    properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
    additionalProperties: false
  }
})

const Typed = Toolkit.make(SimpleText, ErrorHandling, Elicitation, Reconnection)
// A DynamicTool's name is only known at runtime: it gets a toolkit (and handlers) of its own.
const Dynamic = Toolkit.make(JsonSchema2020) as unknown as Toolkit.Any

export const ConformanceTools = Toolkit.merge(Typed, Dynamic)

export const conformanceHandlers = Layer.merge(
  Typed.toLayer({
    test_simple_text: () => Effect.succeed("This is a simple text response for testing."),
    test_error_handling: () => Effect.fail("This tool intentionally returns an error for testing"),
    test_elicitation: ({ message }) => Effect.succeed(`approved: ${message}`),
    test_reconnection: () => Effect.as(Effect.sleep(`${RECONNECTION_CALL_MS} millis`), "Reconnection test completed successfully")
  }),
  Dynamic.toLayer({ json_schema_2020_12_tool: (args) => Effect.succeed(args) })
)

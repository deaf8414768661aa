/**
 * Tracing: with `Tracing.layer` and an OpenTelemetry SDK (`@effect/opentelemetry`'s `NodeSdk`), every
 * run is an `invoke_agent` span with `chat` and `execute_tool` children, printed here by the console
 * exporter. Offline (a scripted model); run with `tsx examples/tracing-console.ts`; tested by
 * test/composition-examples.test.ts.
 */
import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit, Tracing } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Schema } from "effect"

const Lookup = Tool.make("lookup_order", { description: "Look an order up.", parameters: { id: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(Lookup)
const agent = Agent.make({ name: "orders", toolkit })

/** One traced run; spans go to `exporter` (the console by default). */
export const main = (exporter: SpanExporter = new ConsoleSpanExporter()) => {
  const model = S.make([S.toolCall("lookup_order", { id: "A-17" }), S.text("Order A-17 ships tomorrow.")])
  const backend = AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.layer,
        Approval.layerAutoApprove,
        RunStore.layerMemory,
        toolkit.toLayer({ lookup_order: ({ id }) => Effect.succeed(`${id}: packed, ships tomorrow`) }),
        Tracing.layer({ model: "claude-4-sonnet", provider: "heroku" })
      )
    )
  )
  return Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "Where is order A-17?" })).pipe(
    Effect.withSpan("handle request"),
    Effect.provide(backend),
    Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "orders-app" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main()).then((outcome) => console.log(`outcome: ${outcome._tag}`))
}

/**
 * Typed final output: the agent's answer is decoded by a Schema, and `Completed.output` carries the value.
 * A first answer that does not fit goes back to the model with the schema error. `finalAnswerTool` asks
 * for the same answer through a final-answer tool (`outputMode: "tool"`). Offline (a scripted model); run
 * with `tsx examples/typed-output.ts`; tested by test/composition-examples.test.ts.
 */
import { Agent, AgentBackend, Approval, Output, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { Effect, Layer, Option, Schema } from "effect"

const Triage = Schema.Struct({
  severity: Schema.Literals(["low", "high", "critical"]),
  service: Schema.String,
  summary: Schema.String
})

const ReadLogs = Tool.make("read_logs", { description: "Recent error logs of a service.", parameters: { service: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(ReadLogs)
const agent = Agent.make({ name: "triage", instructions: "Triage the incident; answer with JSON.", toolkit, output: Triage })

/** Triage an incident; returns the typed triage. */
export const main = () =>
  triage(agent, [
    S.toolCall("read_logs", { service: "billing" }),
    S.text('{"severity":"urgent","service":"billing","summary":"5xx on invoices"}'), // not a valid severity
    S.text('```json\n{"severity":"high","service":"billing","summary":"5xx on invoices since 10:02"}\n```')
  ])

/** The same, through a final-answer tool: the model calls `final_answer` with the triage as its arguments. */
export const finalAnswerTool = () =>
  triage(Agent.make({ name: "triage", instructions: "Triage the incident.", toolkit, output: Triage, outputMode: "tool" }), [
    S.toolCall("read_logs", { service: "billing" }),
    S.toolCall("final_answer", { severity: "urgent", service: "billing", summary: "5xx" }), // the error names ["severity"]
    S.toolCall("final_answer", { severity: "critical", service: "billing", summary: "every invoice fails" })
  ])

const triage = (agent: Agent.Agent<typeof toolkit.tools, typeof Triage.Type>, turns: ReadonlyArray<S.Turn>) => {
  const model = S.make(turns)
  const program = Effect.gen(function* () {
    const backend = yield* AgentBackend.AgentBackend
    const outcome = yield* backend.run({ input: "Invoices are failing" })
    // Typed by the agent's schema: { severity: "low" | "high" | "critical"; service: string; summary: string }
    return Option.getOrThrow(Output.of(agent, outcome))
  })
  return program.pipe(
    Effect.provide(
      AgentBackend.layerLocal(agent).pipe(
        Layer.provide(
          Layer.mergeAll(
            model.layer,
            Approval.layerAutoApprove,
            RunStore.layerMemory,
            toolkit.toLayer({ read_logs: ({ service }) => Effect.succeed(`${service}: 502 on POST /invoices (x340)`) })
          )
        )
      )
    )
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.zip(main(), finalAnswerTool())).then((triages) => console.log(triages))
}

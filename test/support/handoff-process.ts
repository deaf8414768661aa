/**
 * One side of the cross-process handoff tests, run with tsx as its own process.
 *   tsx handoff-process.ts start  <storeDir> <runId>             -> the outcome (suspended on billing's refund, after the handoff)
 *   tsx handoff-process.ts resume <storeDir> <runId> <decisions>  -> the outcome, the tools that ran, the agents that spoke
 *   tsx handoff-process.ts race   <storeDir> <label> <other> <n>  -> for each round i: wait for the other racer (barrier
 *       files), then resume `race-<i>` with <storeDir>/decisions-race-<i>.json; each round's outcome or error tag
 * Each process appends every tool to <storeDir>/ran.log as it runs (`<pid> <tool>:<order>:...`), so duplicates
 * across processes show.
 */
import { AgentBackend, type AgentEvent, LanguageModel, Message, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { backend, script } from "../../examples/handoff-triage.js"
import { decisionsOf, raceResumes, ranLog } from "./racer.js"

const [mode, storeDir, ...args] = process.argv.slice(2)
if ((mode !== "start" && mode !== "resume" && mode !== "race") || storeDir === undefined) {
  console.error("usage: handoff-process.ts start|resume|race <storeDir> ...")
  process.exit(2)
}

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })
/** The turns after the approval, for any round: billing (offered `refund`) hands back; triage answers. */
const answering = Layer.succeed(LanguageModel.LanguageModel, {
  pushStep: (request, emit) => Effect.sync(() => emit(answer(request))),
  streamStep: (request) => Stream.fromIterable(answer(request))
})
const answer = (request: LanguageModel.ModelRequest) =>
  request.tools.some((t) => t.name === "refund")
    ? [LanguageModel.toolCall({ id: "call_to_triage", name: "transfer_to_triage", arguments: "{}" }), LanguageModel.finish("tool_calls", usage)]
    : [LanguageModel.textDelta("Your refund is on its way."), LanguageModel.finish("stop", usage)]

// Each process scripts only the turns it will see.
const model = mode === "start" ? S.make(script.untilApproval).layer : mode === "resume" ? S.make(script.afterApproval).layer : answering
const ran = ranLog(storeDir)
const layer = backend({ ran, model, store: RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeServices.layer)) })
const program = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  if (mode === "race") return yield* raceResumes(b, storeDir, args[0]!, args[1]!, Number(args[2]))
  const speakers: Array<string> = []
  const onEvent = (event: AgentEvent.AgentEvent) => {
    if (event._tag === "RunStarted" || event._tag === "StepStarted") speakers.push(`${event._tag}:${event.agent}`)
  }
  const outcome =
    mode === "start"
      ? yield* b.run({ input: "I want my $30 back for order 42", runId: args[0]! }, { onEvent })
      : yield* b.resume(args[0]!, decisionsOf(args[1]!), { onEvent })
  return { outcome, ran: [...ran], speakers }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(`${(error as { _tag?: string })._tag ?? "Error"}: ${String(error)}`)
    process.exit(1)
  }
)

/**
 * One process of the cross-process sub-agent tests (the research agent of examples/research-agent.ts on a
 * file store), started with node and tsx's loader so that a SIGKILL reaches it. Every tool run is appended
 * to <storeDir>/ran.log as `<pid> <tool>:<version>` when it runs, so duplicates across processes show.
 *
 *   start   <storeDir> <runId>               the parent's outcome (suspended on the sub-agent's approval)
 *   resume  <storeDir> <runId> <decisions>   resume the parent with the decisions; the outcome
 *   race    <storeDir> <label> <other> <n>   for each round i: wait for the other racer (barrier files), then
 *                                            resume `race-<i>` with <storeDir>/decisions-race-<i>.json; print
 *                                            each round's outcome or error tag
 *   crash   <storeDir> <runId> <decisions>   resume; the sub-agent's deploy SIGKILLs this process as it runs
 *   recover <storeDir> <runId>               resume with no new decisions, once the dead owner's lease expires
 *
 * Environment: LEASE_MS sets the claims' lease (`RunClaim.layerLeaseDuration`). Output: JSON on stdout
 * (`{ outcome }`, or the race's rounds); an error prints its tag and message on stderr, exit code 1.
 */
import { AgentBackend, LanguageModel, Message, RunClaim, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeServices } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Stream } from "effect"
import { backend } from "../../examples/research-agent.js"
import { decisionsOf, raceResumes, ranLog } from "./racer.js"

const [mode, storeDir, ...args] = process.argv.slice(2)
if (mode === undefined || storeDir === undefined) {
  console.error("usage: sub-agent-process.ts start|resume|race|crash|recover <storeDir> ...")
  process.exit(2)
}

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })
/**
 * The turns after the approval, for any round and any process: the sub-agent (offered `deploy`) reports its
 * tool result, the parent its sub-agent's answer.
 */
const answering = Layer.succeed(LanguageModel.LanguageModel, {
  pushStep: (request, emit) => Effect.sync(() => emit(answer(request))),
  streamStep: (request) => Stream.fromIterable(answer(request))
})
const answer = (request: LanguageModel.ModelRequest) => {
  const last = [...request.messages].reverse().find((m) => m._tag === "ToolMessage")
  const version = last?._tag === "ToolMessage" ? /\d+\.\d+/.exec(last.content)?.[0] : undefined
  const sub = request.tools.some((t) => t.name === "deploy")
  const text = version === undefined ? "Not deployed." : sub ? `Deployed ${version}.` : `${version} is live.`
  return [LanguageModel.textDelta(text), LanguageModel.finish("stop", usage)]
}

const model =
  mode === "start"
    ? S.make([S.toolCall("release", { input: "Deploy 4.2" }, { id: "call_release" }), S.toolCall("deploy", { version: "4.2" }, { id: "call_deploy" })]).layer
    : answering
const lease = process.env["LEASE_MS"] === undefined ? Layer.empty : RunClaim.layerLeaseDuration(Duration.millis(Number(process.env["LEASE_MS"])))
const layer = backend({
  // In "crash" mode the sub-agent's deploy SIGKILLs this process right after it is logged.
  ran: ranLog(storeDir, (item) => {
    if (mode === "crash" && item.startsWith("deploy:")) process.kill(process.pid, "SIGKILL")
  }),
  model,
  store: RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeServices.layer))
}).pipe(Layer.provide(lease))

const program = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  switch (mode) {
    case "start":
      return { outcome: yield* b.run({ input: "Ship 4.2", runId: args[0]! }) }
    case "resume":
    case "crash":
      return { outcome: yield* b.resume(args[0]!, decisionsOf(args[1]!)) }
    case "race":
      return yield* raceResumes(b, storeDir, args[0]!, args[1]!, Number(args[2]))
    case "recover": {
      // Bounded by the library's lease, not by a clock of our own: wait until the dead owner's lease expires.
      const state = Option.getOrThrow(yield* b.getRun(args[0]!))
      if (state.lease !== undefined) yield* Effect.sleep(Duration.millis(Math.max(0, state.lease.expiresAt - Date.now()) + 50))
      return { outcome: yield* b.resume(args[0]!, []) }
    }
    default:
      return yield* Effect.die(new Error(`unknown mode ${mode}`))
  }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(`${(error as { _tag?: string })._tag ?? "Error"}: ${String(error)}`)
    process.exit(1)
  }
)

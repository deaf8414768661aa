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
import { AgentBackend, Approval, LanguageModel, Message, RunClaim, RunStore } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { NodeContext } from "@effect/platform-node"
import { Duration, Effect, Either, Layer, Option, Schema, Stream } from "effect"
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { backend } from "../../examples/research-agent.js"

const [mode, storeDir, ...args] = process.argv.slice(2)
if (mode === undefined || storeDir === undefined) {
  console.error("usage: sub-agent-process.ts start|resume|race|crash|recover <storeDir> ...")
  process.exit(2)
}

/** `backend`'s handlers push what they run: this array appends it to the log at that moment. */
class RanLog extends Array<string> {
  override push(...items: Array<string>): number {
    for (const item of items) {
      appendFileSync(join(storeDir!, "ran.log"), `${process.pid} ${item}\n`)
      if (mode === "crash" && item.startsWith("deploy:")) process.kill(process.pid, "SIGKILL")
    }
    return super.push(...items)
  }
}

const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })
/**
 * The turns after the approval, for any round and any process: the sub-agent (offered `deploy`) reports its
 * tool result, the parent its sub-agent's answer.
 */
const answering = Layer.succeed(LanguageModel.LanguageModel, {
  generateStep: (request) => Effect.succeed(answer(request)),
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
  ran: new RanLog(),
  model,
  store: RunStore.layerFileSystem(storeDir).pipe(Layer.provide(NodeContext.layer))
}).pipe(Layer.provide(lease))

const decisionsOf = (json: string) => Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Approval.ApprovalDecision)))(json)

/** Both racers reach round `i` before either resumes. */
const barrier = (round: number, label: string, other: string) =>
  Effect.gen(function* () {
    writeFileSync(join(storeDir, `ready-${round}-${label}`), "")
    while (!existsSync(join(storeDir, `ready-${round}-${other}`))) yield* Effect.sleep(Duration.millis(1))
  })

const program = Effect.gen(function* () {
  const b = yield* AgentBackend.AgentBackend
  switch (mode) {
    case "start":
      return { outcome: yield* b.run({ input: "Ship 4.2", runId: args[0]! }) }
    case "resume":
    case "crash":
      return { outcome: yield* b.resume(args[0]!, decisionsOf(args[1]!)) }
    case "race": {
      const [label, other, rounds] = [args[0]!, args[1]!, Number(args[2])]
      const results: Array<{ runId: string; result: string }> = []
      for (let round = 0; round < rounds; round++) {
        const runId = `race-${round}`
        const decisions = decisionsOf(readFileSync(join(storeDir, `decisions-${runId}.json`), "utf8"))
        yield* barrier(round, label, other)
        const outcome = yield* Effect.either(b.resume(runId, decisions))
        results.push({ runId, result: Either.isRight(outcome) ? outcome.right._tag : outcome.left._tag })
      }
      return results
    }
    case "recover": {
      // Bounded by the library's lease, not by a clock of our own: wait until the dead owner's lease expires.
      const state = Option.getOrThrow(yield* b.getRun(args[0]!))
      if (state.lease !== undefined) yield* Effect.sleep(Duration.millis(Math.max(0, state.lease.expiresAt - Date.now()) + 50))
      return { outcome: yield* b.resume(args[0]!, []) }
    }
    default:
      return yield* Effect.dieMessage(`unknown mode ${mode}`)
  }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(`${(error as { _tag?: string })._tag ?? "Error"}: ${String(error)}`)
    process.exit(1)
  }
)

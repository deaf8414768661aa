/**
 * One process of the durable cross-process tests (run with tsx). Every model call and tool run is appended
 * to a log file (`<pid> model <turn>`, `<pid> tool <idempotency key> <version>`), so a test can tell which
 * process did what. The last stdout line `RESULT <json>` is what the mode produced; a failure is
 * `RESULT {"_tag":"Error","error":{...}}` with exit code 2.
 *
 *   tsx process.ts <engine> <target> <runId> <log> <mode> [arg]
 *
 * engine: sqlite (target: a file), postgres (one runner), cluster (a socket runner), cluster-client
 * (`clientOnly`): the last three take a connection URL. Environment: AGENT=repeater picks the agent whose
 * provider sends `call_0` on every step, AGENT=nested the parent whose sub-agent asks for the approval (see
 * `nestedLayer`; its log lines are `model <agent>:<turn>` and `tool <key> <tool>`), AGENT=handoff triage, which
 * hands off to billing (see `handoffLayer`; log lines `model <agent>:<turn>:<system prompt>`, `tool <key> <tool>`); PORT is a cluster
 * runner's port; FAILOVER its `failoverAfter`; FIRST_ATTEMPT_SLOW=<ms> makes a tool call's first attempt take that long
 * (after its log line), so a test can pause the runner while it runs.
 *
 * modes:
 *   start                 start the run, print its settled status
 *   decide <decision>     decide, print the settled status
 *   crash <decision>      decide; the tool SIGKILLs this process
 *   recover               print the settled status (the engine resumes what a dead process left)
 *   approve-all           start the run and approve every approval as it comes; print the final status
 *   race <rounds>         start runs <runId>-<i>, then for each approve (alice) and deny (bob) at the same
 *                         moment; print every outcome and the status right after
 *   decide-elsewhere <decision>   decide without `Durable.layer(agent)` here; print the error
 *   hold                  run the agent, print READY, wait to be killed (the tool SIGKILLs on a call's
 *                         first attempt when FIRST_ATTEMPT_DIES=1)
 *   suspend-many <n>      start runs <runId>-<i> and wait until each is Suspended; print their pending
 *   decide-many <by> <approve|deny> <file of pending>   decide each at once; print every outcome
 *   settle-many <n>       print the settled status of runs <runId>-<i>
 *   drive                 start, wait for Suspended, approve, print the settled status (timeout 180 s)
 *   redecide <plan> <file of pending>   for each pending approval, by the plan's entry at its index
 *                         (comma-separated: alice approves, bob denies, - nobody decides), then wait for
 *                         every run to settle; print { outcomes, statuses }
 *
 * DIES_AT=<validated|recorded|delivered> SIGKILLs this process at that point inside `decide` (through
 * `Durable.DecideHook`), after printing the run's status as seen there (at once after delivering).
 */
import { appendFileSync, readFileSync } from "node:fs"
import { type Agent, Approval } from "@agentloop/core"
import { Durable } from "@agentloop/workflow"
import { type Duration, Effect, Layer, Redacted, References, Result, Schema } from "effect"
import { agent as deployer, handlers, handoffLayer, model, nestedLayer, repeatingAgent, repeatingIdsModel, researchAgent, triageAgent } from "./fixtures.js"

const [engine, target, runId, logFile, mode, arg, arg2, arg3] = process.argv.slice(2) as [string, string, string, string, string, string | undefined, string | undefined, string | undefined]
const log = (line: string) => appendFileSync(logFile, `${process.pid} ${line}\n`)
const repeater = process.env["AGENT"] === "repeater"
const nested = process.env["AGENT"] === "nested"
const handoff = process.env["AGENT"] === "handoff"
const agent: Agent.Agent<any, any, any> = handoff ? triageAgent : nested ? researchAgent : repeater ? repeatingAgent : deployer
const firstAttemptDies = process.env["FIRST_ATTEMPT_DIES"] === "1"
const firstAttemptSlow = Number(process.env["FIRST_ATTEMPT_SLOW"] ?? 0)

const engineLayer: Layer.Layer<any, unknown> =
  engine === "sqlite"
    ? Durable.layerSqlite({ filename: target, pollInterval: "200 millis" })
    : engine === "postgres"
      ? Durable.layerPostgres({ url: Redacted.make(target), pollInterval: "200 millis" })
      : Durable.layerPostgresCluster({
          url: Redacted.make(target),
          pollInterval: "200 millis",
          clientOnly: engine === "cluster-client",
          runnerAddress: { host: "127.0.0.1", port: Number(process.env["PORT"] ?? 34531) },
          ...(process.env["FAILOVER"] === undefined ? {} : { failoverAfter: process.env["FAILOVER"] as Duration.Input })
        })

const diesAt = process.env["DIES_AT"]
const attemptsOf = (key: string) => readFileSync(logFile, "utf8").split("\n").filter((line) => line.split(" ")[2] === key).length

const runsAgent = mode !== "decide-elsewhere" && engine !== "cluster-client"
const onTool = (key: string, what: string) =>
  Effect.suspend(() => {
    // A decider that dies just after delivering dies before the run it woke acts: on a single runner that
    // run goes on in this process, and it may reach its tool before the hook's SIGKILL lands (a race a
    // loaded machine wins). That case (a runner killed inside a tool call) is its own test; here the tool
    // waits for the kill, so the test says what it means: nothing the decision started ran here.
    if (diesAt === "delivered") return Effect.never
    const first = attemptsOf(key) === 0
    log(`tool ${key} ${what}`)
    if (mode === "crash" || (firstAttemptDies && first)) process.kill(process.pid, "SIGKILL")
    return first && firstAttemptSlow > 0 ? Effect.sleep(firstAttemptSlow) : Effect.void
  })
const agentLayer: Layer.Layer<never, unknown, any> = handoff
  ? handoffLayer((call) => log(`model ${call}`), (tool, key) => onTool(key, tool))
  : nested
  ? nestedLayer((call) => log(`model ${call.replace(" ", ":")}`), (tool, key) => onTool(key, tool))
  : Durable.layer(agent).pipe(Layer.provide(Layer.merge((repeater ? repeatingIdsModel : model)((turn) => log(`model ${turn}`)), handlers(onTool))))
/** On a line of its own: engines may log to stdout too. */
const print = (value: unknown) => process.stdout.write(`\nRESULT ${JSON.stringify(value ?? null)}\n`)

const dying = Layer.effect(
  Durable.DecideHook,
  Effect.map(Effect.context<any>(), (services) => (point: Durable.DecidePoint, id: string) => {
    if (point !== diesAt) return Effect.void
    const die = Effect.sync(() => process.kill(process.pid, "SIGKILL"))
    // After delivering, at once: on a single runner the run goes on in this process, and waiting (for a
    // status read) would let it start the tool this SIGKILL then cuts off.
    if (point === "delivered") return die
    return Durable.status(agent, id).pipe(
      Effect.exit,
      Effect.flatMap((status) => Effect.sync(() => print(status._tag === "Success" ? status.value : { _tag: "Error", error: String(status.cause) }))),
      Effect.andThen(die),
      Effect.provideContext(services)
    )
  })
)
const layer = dying.pipe(Layer.provideMerge(runsAgent ? agentLayer.pipe(Layer.provideMerge(engineLayer)) : engineLayer))

const decisionOf = (json: string | undefined) => Schema.decodeUnknownSync(Schema.fromJsonString(Approval.ApprovalDecision))(json)
const settled = (id: string) => Durable.awaitSettled(agent, id, { timeout: "120 seconds", every: "100 millis" })
const suspended = (id: string) =>
  Effect.flatMap(settled(id), (status) => (status._tag === "Suspended" ? Effect.succeed(status) : Effect.die(new Error(`expected Suspended, got ${JSON.stringify(status)}`))))
/** A decision's outcome as plain data: `won`, or the rejection's tag, reason and winner. */
const outcome = (effect: Effect.Effect<void, { readonly _tag: string; readonly message: string }, any>) =>
  Effect.map(Effect.result(effect), Result.match({ onSuccess: () => ({ _tag: "Won" }), onFailure: (error) => ({ ...error, message: error.message }) }))

const program: Effect.Effect<unknown, any, any> = Effect.gen(function* () {
  switch (mode) {
    case "start":
      yield* Durable.start(agent, { runId, input: "ship 7.2" })
      return yield* settled(runId)
    case "decide":
    case "crash":
      yield* Durable.decide(agent, runId, decisionOf(arg))
      return yield* settled(runId)
    case "recover":
      return yield* settled(runId)
    case "approve-all": {
      yield* Durable.start(agent, { runId, input: "ship" })
      while (true) {
        const status = yield* settled(runId)
        if (status._tag !== "Suspended") return status
        yield* Durable.decide(agent, runId, Approval.approve(status.pending[0]!, { by: "alice" }))
      }
    }
    case "race": {
      const ids = Array.from({ length: Number(arg) }, (_, i) => `${runId}-${i}`)
      yield* Effect.forEach(ids, (id) => Durable.start(agent, { runId: id, input: "ship 7.2" }), { discard: true })
      return yield* Effect.forEach(ids, (id) =>
        Effect.gen(function* () {
          const pending = (yield* suspended(id)).pending[0]!
          const [approve, deny] = yield* Effect.all(
            [outcome(Durable.decide(agent, id, Approval.approve(pending, { by: "alice" }))), outcome(Durable.decide(agent, id, Approval.deny(pending, "no", { by: "bob" })))],
            { concurrency: 2 }
          )
          const after = yield* Durable.status(agent, id)
          return { runId: id, approve, deny, pendingAfter: after._tag === "Suspended" ? after.pending.map((p) => p.approvalId) : [], final: yield* settled(id) }
        })
      )
    }
    case "decide-elsewhere":
      return yield* Durable.decide(agent, runId, decisionOf(arg), { timeout: "5 seconds" })
    case "hold":
      process.stdout.write("READY\n")
      return yield* Effect.never
    case "suspend-many": {
      const ids = Array.from({ length: Number(arg) }, (_, i) => `${runId}-${i}`)
      yield* Effect.forEach(ids, (id) => Durable.start(agent, { runId: id, input: "ship 7.2" }), { discard: true })
      return yield* Effect.forEach(ids, (id) => Effect.map(suspended(id), (status) => status.pending[0]!), { concurrency: 4 })
    }
    case "decide-many": {
      const pending = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Array(Approval.PendingApproval)))(readFileSync(arg3!, "utf8"))
      return yield* Effect.forEach(
        pending,
        (p) => outcome(Durable.decide(agent, p.runId, arg2 === "approve" ? Approval.approve(p, { by: arg! }) : Approval.deny(p, "no", { by: arg! }), { timeout: "60 seconds" })),
        { concurrency: "unbounded" }
      )
    }
    case "settle-many":
      return yield* Effect.forEach(Array.from({ length: Number(arg) }, (_, i) => `${runId}-${i}`), settled, { concurrency: 4 })
    case "drive": {
      yield* Durable.start(agent, { runId, input: "ship 7.2" })
      const pending = (yield* suspended(runId)).pending[0]!
      yield* Durable.decide(agent, runId, Approval.approve(pending, { by: "alice" }), { timeout: "60 seconds" })
      return yield* Durable.awaitSettled(agent, runId, { timeout: "180 seconds", every: "200 millis" })
    }
    case "redecide": {
      const plan = arg!.split(",")
      const pending = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Array(Approval.PendingApproval)))(readFileSync(arg2!, "utf8"))
      const outcomes = yield* Effect.forEach(pending, (p, i) =>
        plan[i] === "alice"
          ? outcome(Durable.decide(agent, p.runId, Approval.approve(p, { by: "alice" })))
          : plan[i] === "bob"
            ? outcome(Durable.decide(agent, p.runId, Approval.deny(p, "no", { by: "bob" })))
            : Effect.succeed(null)
      )
      return { outcomes, statuses: yield* Effect.forEach(pending, (p) => settled(p.runId)) }
    }
    default:
      return yield* Effect.die(new Error(`unknown mode ${mode}`))
  }
})

// `result` outside the layer too: a layer that cannot be built (DatabaseLocked) is a result like any other.
const main = Effect.result(Effect.scoped(Effect.provide(program, layer))) as Effect.Effect<Result.Result<unknown, unknown>>
// SIGTERM shuts down like a deployment would: the layers close (a cluster runner unregisters and hands its
// shards off), so the next test's runners do not wait for this one to be declared dead.
const stop = new AbortController()
process.once("SIGTERM", () => stop.abort())
Effect.runPromise(main.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")), { signal: stop.signal }).then(
  (result) => {
    if (result._tag === "Success") {
      print(result.success)
      process.exit(0)
    }
    const error = result.failure as { readonly _tag?: string; readonly message?: string }
    print({ _tag: "Error", error: { ...error, _tag: error._tag, message: error.message } })
    process.exit(2)
  },
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)

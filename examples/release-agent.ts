/**
 * `pnpm demo:release`: a release agent, offline, on the scripted model.
 *
 * Rules: it must check the service first (init), the test result picks the next tool (conditional),
 * it may not finish without notifying the team (required-before-exit), and notifying ends the run
 * (terminal). Deploying needs a human: the run suspends, a reviewer approves, the run resumes.
 */
import { Agent, AgentBackend, AgentEvent, Approval, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { Console, Effect, Layer, Schema, Stream } from "effect"

const CheckStatus = Tool.make("check_status", {
  description: "Report the health of a service.",
  parameters: { service: Schema.String },
  success: Schema.Struct({ service: Schema.String, healthy: Schema.Boolean, version: Schema.String })
})
const RunTests = Tool.make("run_tests", {
  description: "Run a test suite. Returns 'passed' or 'failed'.",
  parameters: { suite: Schema.String },
  success: Schema.Literals(["passed", "failed"])
})
const Deploy = Tool.make("deploy", {
  description: "Deploy a version to production.",
  parameters: { service: Schema.String, version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const Notify = Tool.make("notify", {
  description: "Post a message to the team channel.",
  parameters: { message: Schema.String },
  success: Schema.String
})

const toolkit = Toolkit.make(CheckStatus, RunTests, Deploy, Notify)

const agent = Agent.make({
  name: "release-bot",
  instructions: "You ship releases safely.",
  toolkit,
  rules: [
    ToolRule.init("check_status", { args: { service: "checkout" } }),
    ToolRule.conditional("run_tests", { childOutputMapping: { passed: "deploy", failed: "notify" } }),
    ToolRule.requiredBeforeExit("notify"),
    ToolRule.terminal("notify")
  ]
})

const handlers = toolkit.toLayer({
  check_status: ({ service }) => Effect.succeed({ service, healthy: true, version: "4.1.0" }),
  run_tests: () => Effect.succeed("passed" as const),
  deploy: ({ service, version }) => Effect.succeed(`${service} ${version} is live`),
  notify: ({ message }) => Effect.succeed(`posted: ${message}`)
})

// What the model "says", turn by turn. The first request asks to deploy; the run suspends there.
const model = ScriptedModel.make([
  ScriptedModel.toolCall("check_status", { service: "whatever" }, { text: "Checking the service first." }),
  ScriptedModel.toolCall("run_tests", { suite: "smoke" }),
  ScriptedModel.toolCall("deploy", { service: "checkout", version: "4.2.0" }),
  ScriptedModel.text("Tests passed; deployed. I think I'm done."),
  ScriptedModel.toolCall("notify", { message: "checkout 4.2.0 deployed" })
])

const layer = AgentBackend.layerLocal(agent).pipe(
  Layer.provide(Layer.mergeAll(model.layer, handlers, Approval.layerSuspend, RunStore.layerMemory))
)

const print = (stream: Stream.Stream<AgentEvent.AgentEvent, AgentBackend.AgentError>) =>
  stream.pipe(
    Stream.tap((event) => Console.log(AgentEvent.format(event))),
    Stream.runLast
  )

const program = Effect.gen(function* () {
  const backend = yield* AgentBackend.AgentBackend
  yield* Console.log("== run ==")
  yield* print(backend.stream({ input: "Ship checkout 4.2.0", runId: "demo-run" }))

  const state = yield* backend.getRun("demo-run")
  const pending = state._tag === "Some" ? state.value.pending : []
  for (const approval of pending) {
    yield* Console.log(`\n== reviewer approves ${approval.toolName}(${JSON.stringify(approval.arguments)}) ==`)
  }
  yield* print(backend.resumeStream("demo-run", pending.map((p) => Approval.approve(p, { by: "reviewer@example.com" }))))
})

Effect.runPromise(Effect.provide(program, layer)).catch((error) => {
  console.error(error)
  process.exit(1)
})

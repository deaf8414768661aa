/**
 * A Heroku ops agent: it inspects a failing app, reads its logs, and restarts its dynos, but only with a
 * human's approval. Its grant allows reading apps, dynos, formation, releases and logs, and writing dynos
 * and formation; every write needs approval. Everything else is not even offered to the model.
 *
 * Offline (default): a scripted model drives it against the in-process fake Heroku, where "shop-api" has
 * crashed. With HEROKU_API_KEY set it talks to the real Platform API about HEROKU_APP (the same scripted
 * turns); the restart then runs only if HEROKU_DEMO_APPROVE=1, otherwise it is denied.
 */
import { Agent, AgentBackend, AgentEvent, Approval, RunStore, ToolRule } from "@agentloop/core"
import { AuditLog, Grant, HerokuClient, HerokuTools } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Redacted, Stream } from "effect"

export const grant = Grant.make({
  agent: "heroku-ops",
  access: { apps: "read", dynos: "full", formation: "full", releases: "read", logs: "read" },
  approvalFor: ["write", "destructive", "costs_money", "exposes_secrets"]
})

export const makeAgent = () =>
  Agent.make({
    name: "heroku-ops",
    instructions: "You are an on-call assistant for Heroku apps. Diagnose before you act; explain what you did.",
    toolkit: HerokuTools.toolkit(grant),
    rules: [
      ToolRule.init("heroku_apps_info"), // always look at the app first
      ToolRule.maxCountPerStep("heroku_dynos_restart_all", 1) // never restart in a loop
    ],
    maxSteps: 12
  })

/** What the model does, turn by turn (a real model would decide this from the tool results). */
const script = (app: string) => [
  ScriptedModel.toolCall("heroku_apps_info", { app }, { text: `Let me look at ${app}.` }),
  ScriptedModel.toolCall("heroku_dynos_list", { app }),
  ScriptedModel.toolCall("heroku_logs_read", { app, lines: 20 }),
  ScriptedModel.toolCall("heroku_dynos_restart_all", { app }, { text: "The web dyno crashed (H10). A restart should bring it back." }),
  ScriptedModel.toolCall("heroku_dynos_list", { app }),
  ScriptedModel.text(`Restarted ${app}; its dynos are up again. The crash came from a missing module: check package.json.`)
]

export interface DemoResult {
  readonly outcome: unknown
  readonly audit: ReadonlyArray<AuditLog.Entry>
}

/** Runs the demo, printing events with `print`. `target` selects the fake (default) or the real API. */
export const runDemo = (
  print: (line: string) => void,
  target: { readonly kind: "fake" } | { readonly kind: "real"; readonly token: string; readonly app: string; readonly approve: boolean } = { kind: "fake" }
) =>
  Effect.gen(function* () {
    let baseUrl: string | undefined
    let app = "shop-api"
    if (target.kind === "fake") {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp(app)
      fake.crash(app)
      baseUrl = fake.url
    } else {
      app = target.app
    }
    const token = Redacted.make(target.kind === "fake" ? "test-token" : target.token)
    const model = ScriptedModel.make(script(app))
    const layer = AgentBackend.layerLocal(makeAgent()).pipe(
      Layer.provide(HerokuTools.layer(grant)),
      Layer.provideMerge(
        Layer.mergeAll(
          model.layer,
          Approval.layerSuspend,
          RunStore.layerMemory,
          AuditLog.layerMemory,
          HerokuClient.layer({ token, ...(baseUrl === undefined ? {} : { baseUrl }) }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    )
    return yield* Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const show = (stream: Stream.Stream<AgentEvent.AgentEvent, AgentBackend.AgentError>) =>
        Stream.runForEach(stream, (event) => Effect.sync(() => print(AgentEvent.format(event))))
      print(`== ${target.kind === "fake" ? "offline: fake Heroku, scripted model" : "live Heroku API, scripted model"} ==`)
      yield* show(backend.stream({ input: `${app} is returning errors. Find out why and fix it.`, runId: "ops-1" }))
      const pending = Option.match(yield* backend.getRun("ops-1"), { onNone: () => [], onSome: (s) => s.pending })
      const approve = target.kind === "fake" || target.approve
      const decisions = pending.map((p) => {
        print(`\n== on-call human ${approve ? "approves" : "denies"} ${p.toolName}(${JSON.stringify(p.arguments)}) ==`)
        return approve ? Approval.approve(p, { by: "oncall@example.com" }) : Approval.deny(p, "HEROKU_DEMO_APPROVE is not set", { by: "demo" })
      })
      yield* show(backend.resumeStream("ops-1", decisions))
      const audit = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)
      print("\n== audit log ==")
      for (const entry of audit) print(AuditLog.format(entry))
      const state = yield* backend.getRun("ops-1")
      return { outcome: Option.getOrUndefined(state)?.outcome, audit } satisfies DemoResult
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

if (import.meta.url === `file://${process.argv[1]}`) {
  const token = process.env["HEROKU_API_KEY"]
  const target =
    token === undefined || token === ""
      ? ({ kind: "fake" } as const)
      : ({ kind: "real", token, app: process.env["HEROKU_APP"] ?? "", approve: process.env["HEROKU_DEMO_APPROVE"] === "1" } as const)
  if (target.kind === "real" && target.app === "") {
    console.error("Set HEROKU_APP to the app the agent should look at.")
    process.exit(2)
  }
  Effect.runPromise(runDemo((line) => console.log(line), target)).catch((error) => {
    console.error(String(error))
    process.exit(1)
  })
}

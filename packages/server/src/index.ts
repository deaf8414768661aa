/**
 * @agentloop/server: agents served over HTTP, with their approvals decided by authenticated people.
 *
 * @example
 * ```ts
 * import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit } from "@agentloop/core"
 * import { Auth, Runs, Server } from "@agentloop/server"
 * import { ScriptedModel } from "@agentloop/testing"
 * import { Effect, Layer, Schema } from "effect"
 *
 * const Deploy = Tool.make("deploy", { description: "Deploy a version.", parameters: { version: Schema.String }, requiresApproval: true })
 * const toolkit = Toolkit.make(Deploy)
 * const agent = Agent.make({ name: "release-bot", toolkit })
 * const backend = AgentBackend.layerLocal(agent).pipe(
 *   Layer.provide(Layer.mergeAll(
 *     ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "4.2.0" })]).layer,
 *     Approval.layerSuspend({ expiresIn: "1 hour" }),
 *     RunStore.layerMemory,
 *     toolkit.toLayer({ deploy: ({ version }) => Effect.succeed(`deployed ${version}`) })
 *   ))
 * )
 *
 * const server = Server.layerNode({ port: 8080 }).pipe(
 *   Layer.provide(Runs.layer({ "release-bot": { backend, risk: () => "deploys" } })),
 *   Layer.provide(Auth.layerBearerTokens([{ token: "a-long-random-operator-token", subject: "ops@example.com", role: "admin" }]))
 * )
 * Layer.launch(server).pipe(Effect.runFork)
 * ```
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as AgUi from "./AgUi.js"
export * as Api from "./Api.js"
export * as Auth from "./Auth.js"
export * as Console from "./Console.js"
export * as EventView from "./EventView.js"
export * as Guard from "./Guard.js"
export * as Handlers from "./Handlers.js"
export * as Model from "./Model.js"
export * as RunLog from "./RunLog.js"
export * as Runs from "./Runs.js"
export * as Server from "./Server.js"

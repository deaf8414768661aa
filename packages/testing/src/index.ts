/**
 * @agentloop/testing: fake layers for testing agents without a network.
 *
 * @example
 * ```ts
 * import { ScriptedModel } from "@agentloop/testing"
 *
 * // one turn per model call: a tool call, then a streamed text answer
 * const model = ScriptedModel.make([
 *   ScriptedModel.toolCall("get_weather", { city: "Oslo" }),
 *   ScriptedModel.text(["It is ", "5C in Oslo."])
 * ])
 * // provide `model.layer` as the LanguageModel; `model.requests` records what the loop sent
 * ```
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as ScriptedModel from "./ScriptedModel.js"
export * as FakeHerokuPlatform from "./FakeHerokuPlatform.js"
export * as FakeHerokuPostgres from "./FakeHerokuPostgres.js"
export * as FakeHerokuInference from "./FakeHerokuInference.js"
export * as FakeHttp from "./FakeHttp.js"
export * as FakeHumanloop from "./FakeHumanloop.js"
export * as Harness from "./Harness.js"
export * as FakeLetta from "./FakeLetta.js"
export * as FakeToolhouse from "./FakeToolhouse.js"

/**
 * @agentloop/testing: fake layers for testing agents without a network.
 *
 * @since 0.1.0
 */
export * as ScriptedModel from "./ScriptedModel.js"
export * as FakeHerokuPlatform from "./FakeHerokuPlatform.js"
export * as FakeHerokuInference from "./FakeHerokuInference.js"
export * as FakeHttp from "./FakeHttp.js"
export * as FakeHumanloop from "./FakeHumanloop.js"
export * as Harness from "./Harness.js"
export * as FakeLetta from "./FakeLetta.js"
export * as FakeToolhouse from "./FakeToolhouse.js"

/**
 * Agents as tools: a research agent that delegates deployments to a `release` sub-agent, whose `deploy`
 * tool needs approval. The sub-agent's approval suspends the research run; one resume with the decision
 * finishes both. Offline (a scripted model); run with `tsx examples/research-agent.ts`; tested by
 * test/composition-examples.test.ts (and reused by test/sub-agent*.test.ts).
 */
import { Agent, AgentBackend, Approval, type LanguageModel, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { Effect, Layer, Schema } from "effect"

export const Deploy = Tool.make("deploy", {
  description: "Deploy a version (needs approval).",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
export const Search = Tool.make("search", {
  description: "Search the release notes.",
  parameters: { query: Schema.String },
  success: Schema.String
})

export const releaseTools = Toolkit.make(Deploy)
export const searchTools = Toolkit.make(Search)
export const releaseAgent = Agent.make({ name: "release", instructions: "You deploy releases.", toolkit: releaseTools })
export const releaseTool = Agent.asTool(releaseAgent, { description: "Deploys a release; give it the version." })
export const researchAgent = Agent.make({
  name: "research",
  instructions: "You research releases and delegate deployments.",
  toolkit: Toolkit.merge(searchTools, releaseTool.toolkit)
})

/** The research agent's local backend; handlers append what ran to `ran`. */
export const backend = (options: {
  readonly ran: Array<string>
  readonly model: Layer.Layer<LanguageModel.LanguageModel>
  readonly store: Layer.Layer<RunStore.RunStore>
  readonly approvals?: Layer.Layer<Approval.Approvals>
}) => {
  const shared = Layer.mergeAll(options.model, options.store, options.approvals ?? Approval.layerSuspend)
  const deploy = releaseTools.toLayer({ deploy: ({ version }) => Effect.sync(() => (options.ran.push(`deploy:${version}`), `deployed ${version}`)) })
  const search = searchTools.toLayer({ search: ({ query }) => Effect.sync(() => (options.ran.push(`search:${query}`), `notes for ${query}: all green`)) })
  const release = releaseTool.layer.pipe(Layer.provide(Layer.merge(shared, deploy)))
  return AgentBackend.layerLocal(researchAgent).pipe(Layer.provide(Layer.mergeAll(shared, search, release)))
}

/** Research 2.0, delegate its deployment, approve the sub-agent's deploy, and return the final outcome. */
export const main = (ran: Array<string> = []) => {
  // Parent and sub-agent share the model: the script interleaves their steps.
  const model = S.make([
    S.toolCall("search", { query: "2.0" }),
    S.toolCall("release", { input: "Deploy 2.0" }),
    S.toolCall("deploy", { version: "2.0" }),
    S.text("Deployed 2.0."),
    S.text("2.0 looks good and is deployed.")
  ])
  const program = Effect.gen(function* () {
    const research = yield* AgentBackend.AgentBackend
    const first = yield* research.run({ input: "Research 2.0 and ship it" })
    if (first._tag !== "Suspended") return first
    // The pending approval is the sub-agent's deploy call, surfaced on the research run.
    for (const p of first.pending) console.log(`approval needed: ${p.toolName}(${JSON.stringify(p.arguments)}) via ${p.via}`)
    return yield* research.resume(first.runId, first.pending.map((p) => Approval.approve(p, { by: "release-manager" })))
  })
  return program.pipe(Effect.provide(backend({ ran, model: model.layer, store: RunStore.layerMemory })))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main()).then((outcome) => console.log(outcome))
}

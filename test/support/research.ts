/**
 * The research agent used by the sub-agent tests: a parent that delegates to a `release` sub-agent whose
 * `deploy` tool needs approval.
 */
import { Agent, AgentBackend, Approval, type LanguageModel, type RunStore, Tool, Toolkit } from "@agentloop/core"
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

const releaseTools = Toolkit.make(Deploy)
const searchTools = Toolkit.make(Search)
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
  const shared = Layer.mergeAll(options.model, options.store, options.approvals ?? Approval.layerSuspend())
  const deploy = releaseTools.toLayer({ deploy: ({ version }) => Effect.sync(() => (options.ran.push(`deploy:${version}`), `deployed ${version}`)) })
  const search = searchTools.toLayer({ search: ({ query }) => Effect.sync(() => (options.ran.push(`search:${query}`), `notes for ${query}: all green`)) })
  const release = releaseTool.layer.pipe(Layer.provide(Layer.merge(shared, deploy)))
  return AgentBackend.layerLocal(researchAgent).pipe(Layer.provide(Layer.mergeAll(shared, search, release)))
}

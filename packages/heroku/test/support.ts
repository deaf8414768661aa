/** A local backend over a hosted LanguageModel layer, with in-memory store and a recording handler set. */
import { Agent, AgentBackend, Approval, type LanguageModel, RunStore, Tool, Toolkit } from "@agentloop/core"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"

export const GetWeather = Tool.make("get_weather", {
  description: "Current weather for a city.",
  parameters: { city: Schema.String },
  success: Schema.String
})
export const weatherToolkit = Toolkit.make(GetWeather)
export const weatherHandlers = (calls: Array<string>) =>
  weatherToolkit.toLayer({ get_weather: ({ city }) => Effect.sync(() => (calls.push(city), `${city}: 5C, rain`)) })

export const backendOver = (
  model: Layer.Layer<LanguageModel.LanguageModel, never, import("@effect/platform").HttpClient.HttpClient>,
  options: { readonly toolChoice?: Agent.Options<any>["toolChoice"]; readonly approvals?: Layer.Layer<Approval.Approvals> } = {}
) => {
  const calls: Array<string> = []
  const layer = AgentBackend.layerLocal(
    Agent.make({ name: "weather", toolkit: weatherToolkit, ...(options.toolChoice === undefined ? {} : { toolChoice: options.toolChoice }) })
  ).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.pipe(Layer.provide(NodeHttpClient.layerUndici)),
        weatherHandlers(calls),
        options.approvals ?? Approval.layerAutoApprove,
        RunStore.layerMemory
      )
    )
  )
  return { layer, calls }
}

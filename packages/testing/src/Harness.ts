/**
 * A ready-made agent for testing backends: a `get_weather` tool (and a `set_alarm` tool that needs
 * approval), handlers that record their calls, and a local backend over whatever `LanguageModel` layer you
 * give it, talking real HTTP through undici.
 *
 * @since 0.1.0
 */
import { Agent, AgentBackend, Approval, type LanguageModel, RunStore, Tool, Toolkit, type ToolRule } from "@agentloop/core"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import type { HttpClient } from "effect/http"

export const GetWeather = Tool.make("get_weather", {
  description: "Current weather for a city.",
  parameters: { city: Schema.String },
  success: Schema.String
})

export const SetAlarm = Tool.make("set_alarm", {
  description: "Set an alarm (needs approval).",
  parameters: { time: Schema.String },
  success: Schema.String,
  requiresApproval: true
})

export const toolkit = Toolkit.make(GetWeather, SetAlarm)

export const handlers = (calls: Array<string>) =>
  toolkit.toLayer({
    get_weather: ({ city }) => Effect.sync(() => (calls.push(`get_weather:${city}`), `${city}: 5C, rain`)),
    set_alarm: ({ time }) => Effect.sync(() => (calls.push(`set_alarm:${time}`), `alarm set for ${time}`))
  })

export interface Options {
  readonly toolChoice?: Agent.Options<any>["toolChoice"]
  /** Re-prompts of a text answer to a forced choice before the run stops (the agent's default otherwise). */
  readonly toolChoiceRetries?: number
  readonly rules?: ReadonlyArray<ToolRule.ToolRule>
  readonly approvals?: Layer.Layer<Approval.Approvals>
  readonly store?: Layer.Layer<RunStore.RunStore>
}

/** The weather agent on a local backend over `model` (which may need an HttpClient: undici is provided). */
export const over = (
  model: Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient>,
  options: Options = {}
) => {
  const calls: Array<string> = []
  const agent = Agent.make({
    name: "weather",
    toolkit,
    ...(options.toolChoice === undefined ? {} : { toolChoice: options.toolChoice }),
    ...(options.toolChoiceRetries === undefined ? {} : { toolChoiceRetries: options.toolChoiceRetries }),
    ...(options.rules === undefined ? {} : { rules: options.rules })
  })
  const layer = AgentBackend.layerLocal(agent).pipe(
    Layer.provide(
      Layer.mergeAll(
        model.pipe(Layer.provide(NodeHttpClient.layerUndici)),
        handlers(calls),
        options.approvals ?? Approval.layerAutoApprove,
        options.store ?? RunStore.layerMemory
      )
    )
  )
  return { layer, calls, agent }
}

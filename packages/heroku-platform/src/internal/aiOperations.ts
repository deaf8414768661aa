/**
 * Heroku Managed Inference, as Heroku's MCP server offers it (through its CLI's AI plugin):
 *
 * - the model catalog: `GET /available-models` on Managed Inference's public host (no key; no Heroku
 *   token is sent there either);
 * - an inference through a model resource attached to an app: its `<NAME>_URL`, `<NAME>_KEY` and
 *   `<NAME>_MODEL_ID` config vars are read through the Platform API (the key is learnt as a secret at once,
 *   so nothing returned, failed with or audited can hold it), then its chat completions endpoint is called
 *   with the key as a bearer token. The request and the answer are mapped by `@agentloop/wire`'s
 *   `ChatCompletions`, the same code `@agentloop/heroku`'s model speaks with.
 *
 * Provisioning a model is `heroku_addons_create` with the plan `heroku-inference:<model>` (and `as` for its
 * name), exactly the call Heroku's CLI makes.
 *
 * @internal
 */
import { Message } from "@agentloop/core"
import { ChatCompletions, Http } from "@agentloop/wire"
import { Effect, Redacted, Schema } from "effect"
import * as HerokuError from "../HerokuError.js"
import * as R from "../Resources.js"
import { appName, defined, type Operation } from "./operationKit.js"

const ChatTurn = Schema.Struct({
  role: Schema.Literals(["system", "user", "assistant"]),
  content: Schema.String.check(Schema.isMaxLength(100_000))
})

const toMessage = (turn: typeof ChatTurn.Type): Message.Message =>
  turn.role === "system" ? Message.system(turn.content) : turn.role === "user" ? Message.user(turn.content) : Message.assistant(turn.content)

/** A model resource's name: the prefix of its config vars (the add-on attachment's name). */
const ResourceName = Schema.String.annotate({ description: "The model resource's attachment name, the prefix of its config vars (default INFERENCE)." }).check(
  Schema.isPattern(/^[A-Z][A-Z0-9_]{0,62}$/u)
)

const notProvisioned = (name: string, missing: string) =>
  new HerokuError.HerokuApiError({
    status: 404,
    id: "not_found",
    message: `This app has no model resource named ${name} (no ${missing} config var). Provision one with heroku_addons_create, plan heroku-inference:<model>.`,
    method: "GET",
    path: "/apps/{app}/config-vars"
  })

const invalidAnswer = (message: string) =>
  new HerokuError.HerokuApiError({ status: 502, id: "invalid_inference_answer", message, method: "POST", path: "(Managed Inference)" })

export const aiOperations: ReadonlyArray<Operation> = [
  {
    tool: "heroku_ai_models_list",
    group: "ai",
    access: "read",
    scope: "read",
    risks: ["read"],
    method: "GET",
    api: "inference",
    template: "/available-models",
    description: "List the AI models Heroku Managed Inference offers (model id, type, regions): provision one with heroku_addons_create, plan heroku-inference:<model_id>.",
    parameters: {},
    result: Schema.Struct({ models: Schema.Array(R.AiModel) }),
    present: (body) => ({ models: body })
  },
  {
    tool: "heroku_ai_inference",
    group: "ai",
    access: "read",
    scope: "read-protected",
    risks: ["read", "costs_money"],
    method: "GET",
    template: "/apps/{app}/config-vars",
    description:
      "Ask a model provisioned on an app (Heroku Managed Inference) for a completion of a conversation; answers its text. The model's key never leaves the tool.",
    parameters: {
      ...appName,
      resource: Schema.optional(ResourceName),
      messages: Schema.Array(ChatTurn).check(Schema.isMinLength(1), Schema.isMaxLength(100)),
      max_tokens: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64_000 }))),
      temperature: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
      top_p: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
      stop: Schema.optional(Schema.Array(Schema.String.check(Schema.isMaxLength(100))).check(Schema.isMaxLength(4)))
    },
    result: R.AiInference,
    after: (vars, p, _ids, client) =>
      Effect.gen(function* () {
        const config = (vars ?? {}) as Record<string, unknown>
        const name: string = p["resource"] ?? "INFERENCE"
        const read = (suffix: string) => {
          const value = config[`${name}_${suffix}`]
          return typeof value === "string" && value.length > 0 ? value : undefined
        }
        const url = read("URL")
        const key = read("KEY")
        const model = read("MODEL_ID")
        if (url === undefined) return yield* notProvisioned(name, `${name}_URL`)
        if (key === undefined) return yield* notProvisioned(name, `${name}_KEY`)
        if (model === undefined) return yield* notProvisioned(name, `${name}_MODEL_ID`)
        const base = Http.baseUrl(/^https?:\/\//u.test(url) ? url : `https://${url}`, url)
        const text = yield* client.external({
          method: "POST",
          url: `${base}/v1/chat/completions`,
          label: "(Managed Inference)",
          bearer: Redacted.make(key),
          body: {
            json: defined({
              model,
              messages: ChatCompletions.toMessages((p["messages"] as ReadonlyArray<typeof ChatTurn.Type>).map(toMessage)),
              max_tokens: p["max_tokens"],
              temperature: p["temperature"],
              top_p: p["top_p"],
              stop: p["stop"],
              stream: false
            })
          }
        })
        let completion: unknown
        try {
          completion = JSON.parse(text)
        } catch {
          return yield* invalidAnswer("Managed Inference answered with something that is not JSON")
        }
        const error = ChatCompletions.errorOf(completion)
        if (error !== undefined) return yield* invalidAnswer(`Managed Inference answered with an error: ${error.slice(0, 500)}`)
        let answer = ""
        let finishReason = "unknown"
        let usage = { inputTokens: 0, outputTokens: 0 }
        for (const part of ChatCompletions.fromCompletion(completion)) {
          if (part._tag === "TextDelta") answer += part.delta
          if (part._tag === "Finish") {
            finishReason = part.reason
            usage = { inputTokens: part.usage.inputTokens, outputTokens: part.usage.outputTokens }
          }
        }
        return { resource: name, text: answer, finishReason, usage }
      })
  }
]

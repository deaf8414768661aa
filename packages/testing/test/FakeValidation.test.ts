/** Each fake checks request bodies as strictly as its API: a misnamed or unknown field is refused. */
import { FakeHerokuInference, FakeHumanloop, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const post = (url: string, headers: Record<string, string>, body: unknown) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) }).then(async (r) => ({
      status: r.status,
      text: await r.text()
    }))
  )

describe("strict fakes", () => {
  it.live("chat completions: `name` on a tool message, stream_options without stream, unknown fields → 400", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({ chat: [ScriptedModel.text("ok")] })
      const auth = { Authorization: `Bearer ${fake.key}` }
      const url = `${fake.url}/v1/chat/completions`
      const tool = yield* post(url, auth, { model: "m", messages: [{ role: "tool", tool_call_id: "c1", content: "5C", name: "get_weather" }] })
      expect(tool.status).toBe(400)
      expect(tool.text).toContain("body.messages.0.name")
      expect((yield* post(url, auth, { model: "m", messages: [], stream_options: { include_usage: true } })).text).toContain("only allowed when stream is true")
      expect((yield* post(url, auth, { model: "m", messages: [], max_completion_tokenz: 5 })).status).toBe(400)
      // `allow_ignored_params` lets unknown top-level fields through, as Heroku documents.
      expect((yield* post(url, auth, { model: "m", messages: [], max_completion_tokenz: 5, allow_ignored_params: true })).status).toBe(200)
      const agents = yield* post(`${fake.url}/v1/agents/heroku`, auth, { model: "m", messages: [], stream: true })
      expect(agents.status).toBe(400)
      expect(agents.text).toContain("body.stream")
    }))

  it.live("humanloop: unknown fields on /agents/call and /agents/continue → 422 extra_forbidden", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make()
      const auth = { "X-API-KEY": fake.apiKey }
      const call = yield* post(`${fake.url}/v5/agents/call`, auth, { path: "A", messages: [], log_status: "incomplete" })
      expect(call.status).toBe(422)
      expect(JSON.parse(call.text).detail[0]).toMatchObject({ loc: ["body", "log_status"], type: "extra_forbidden" })
      expect((yield* post(`${fake.url}/v5/agents/continue`, auth, { log_id: "x", messages: [], agent: {} })).status).toBe(422)
    }))
})

import { AgentBackend, Approval, type AgentEvent, Message, ToolRule } from "@agentloop/core"
import { HumanloopModel } from "@agentloop/humanloop"
import { FakeHumanloop, Harness, ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Stream } from "effect"

const S = ScriptedModel
const modelFor = (fake: FakeHumanloop.FakeHumanloop, stream: boolean, key = fake.apiKey) =>
  HumanloopModel.layer({
    apiKey: Redacted.make(key),
    baseUrl: `${fake.url}/v5`,
    path: "Weather/Agent",
    agent: { model: "gpt-4o", provider: "openai", max_iterations: 5 },
    stream,
    retry: { baseDelay: "5 millis" }
  })

const events = (stream: Stream.Stream<AgentEvent.AgentEvent, AgentBackend.AgentError>) => Stream.runCollect(stream)

describe.each([false, true])("HumanloopModel (stream: %s)", (streaming) => {
  it.live("call -> incomplete log -> local tool -> continue with the result -> complete", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({ turns: [S.toolCall("get_weather", { city: "Oslo" }, { text: "Let me check." }), S.text(["It is ", "5C."])] })
      const h = Harness.over(modelFor(fake, streaming))
      const list = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => events(b.stream({ input: "Weather in Oslo?" }))).pipe(Effect.provide(h.layer))
      expect(list.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "It is 5C.", steps: 2 } })
      expect(h.calls).toEqual(["get_weather:Oslo"])
      const [call, cont] = fake.requests
      expect(call!.path).toBe("/v5/agents/call")
      expect(call!.headers["x-api-key"]).toBe("hl-key")
      expect(call!.body).toMatchObject({
        path: "Weather/Agent",
        stream: streaming,
        tool_choice: "auto",
        messages: [{ role: "user", content: "Weather in Oslo?" }],
        agent: {
          model: "gpt-4o",
          endpoint: "chat",
          max_iterations: 5,
          tools: [
            { type: "inline", json_schema: { name: "get_weather", parameters: { type: "object", required: ["city"] } }, on_agent_call: "continue" },
            { type: "inline", json_schema: { name: "set_alarm" } }
          ]
        }
      })
      expect(cont!.path).toBe("/v5/agents/continue")
      expect(cont!.body).toEqual({
        log_id: "log_1",
        messages: [{ role: "tool", tool_call_id: "tc_log_1_1_1", content: "Oslo: 5C, rain" }],
        stream: streaming
      })
      if (streaming) {
        expect(list.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta)).toEqual(["Let me check.", "It is ", "5C."])
      }
    }))
})

describe("HumanloopModel", () => {
  it.live("sends all four tool_choice forms", () =>
    Effect.gen(function* () {
      const sent: Array<unknown> = []
      for (const toolChoice of ["none", "auto", "required", { function: "get_weather" }] as const) {
        const fake = yield* FakeHumanloop.make({ turns: [S.text("ok")] })
        // One text answer: under a forced choice the run then stops (tool_choice) without re-prompting.
        const h = Harness.over(modelFor(fake, false), { toolChoice, toolChoiceRetries: 0 })
        yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(h.layer))
        sent.push(fake.requests[0]!.body.tool_choice)
      }
      expect(sent).toEqual(["none", "auto", "required", { type: "function", function: { name: "get_weather" } }])
    }))

  it.live("a call that needs approval suspends our run; resume continues the same Humanloop log", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({ turns: [S.toolCall("set_alarm", { time: "07:00" }), S.text("Alarm set.")] })
      const h = Harness.over(modelFor(fake, true), { approvals: Approval.layerSuspend() })
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const first = yield* backend.run({ input: "Wake me at 7", runId: "hl-1" })
        expect(first._tag).toBe("Suspended")
        expect(fake.logs.get("log_1")!.status).toBe("incomplete")
        const pending = first._tag === "Suspended" ? first.pending : []
        const done = yield* backend.resume("hl-1", [Approval.approve(pending[0]!, { by: "me" })])
        expect(done).toMatchObject({ _tag: "Completed", text: "Alarm set." })
      }).pipe(Effect.provide(h.layer))
      expect(h.calls).toEqual(["set_alarm:07:00"])
      expect(fake.requests.map((r) => r.path)).toEqual(["/v5/agents/call", "/v5/agents/continue"])
      expect(fake.requests[1]!.body.log_id).toBe("log_1")
    }))

  it.live("our rules still apply: a forbidden call is not run, and Humanloop gets the violation as the tool result", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({ turns: [S.toolCall("set_alarm", { time: "x" }), S.text("Sorry.")] })
      // The text answer to the init-forced choice stops the run (tool_choice) without re-prompting.
      const h = Harness.over(modelFor(fake, false), { rules: [ToolRule.init("get_weather")], toolChoiceRetries: 0 })
      yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(h.layer))
      expect(h.calls).toEqual([])
      // Both tools are declared for the whole log; the rule forces the first call.
      expect(fake.requests[0]!.body.agent.tools.map((t: any) => t.json_schema.name)).toEqual(["get_weather", "set_alarm"])
      expect(fake.requests[0]!.body.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } })
      expect(fake.requests[1]!.body.messages[0].content).toContain("[ToolConstraintError] Cannot call set_alarm, valid tools include: [get_weather]")
    }))

  it.live("errors: a wrong key is a 401 ModelError; Humanloop's 422 detail is the message", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({ turns: [{ status: 422, body: { detail: [{ loc: ["body", "agent", "model"], msg: "field required", type: "missing" }] } }] })
      const wrong = yield* Effect.flip(
        Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(modelFor(fake, false, "nope")).layer))
      )
      expect(wrong).toMatchObject({ _tag: "ModelError", provider: "humanloop", status: 401 })
      expect(wrong.message).toContain("Your API key is incorrect or missing")
      expect(JSON.stringify(wrong)).not.toContain('"nope"')
      const invalid = yield* Effect.flip(
        Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(modelFor(fake, false)).layer))
      )
      expect(invalid).toMatchObject({ status: 422, retryable: false, message: "humanloop answered 422: body.agent.model: field required" })
    }))

  it.live("a malformed line and an unknown event type are kept as Raw; the stream goes on", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({
        turns: [
          {
            frames: [
              { data: { log_id: "log_x", type: "agent_update", payload: { agent_id: "ag", output: "Hel" } } },
              { data: "{not json" },
              { data: { log_id: "log_x", type: "agent_checkpoint", payload: { n: 1 } } },
              { data: { log_id: "log_x", type: "agent_update", payload: { agent_id: "ag", output: "lo" } } },
              { data: { log_id: "log_x", type: "agent_end" } }
            ]
          }
        ]
      })
      const list = yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => events(b.stream({ input: "x" }))).pipe(Effect.provide(Harness.over(modelFor(fake, true)).layer))
      expect(list.filter((e) => e._tag === "Raw").map((e) => (e as { data: unknown }).data)).toMatchObject([{ malformed: "{not json" }, { type: "agent_checkpoint" }])
      expect(list.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "Hello" } })
    }))

  it.live("a stream cut mid-way is a ModelError, not retryable (the log was created)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHumanloop.make({ turns: [{ dropAfter: 2, turn: S.text(["a", "b", "c"]) }] })
      const error = yield* Effect.flip(
        Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(Harness.over(modelFor(fake, true)).layer))
      )
      expect(error).toMatchObject({ _tag: "ModelError", retryable: false, reason: "transport" })
    }))

  it("openLog finds the incomplete log a conversation continues", () => {
    const assistant = Message.assistant("", [], { metadata: { humanloop: { logId: "log_9", logStatus: "incomplete" } } })
    const result = Message.toolResult({ toolCallId: "t", toolName: "get_weather", content: "x", isError: false })
    expect(HumanloopModel.openLog([Message.user("q"), assistant, result])?.log.logId).toBe("log_9")
    const done = Message.assistant("a", [], { metadata: { humanloop: { logId: "log_9", logStatus: "complete" } } })
    expect(HumanloopModel.openLog([Message.user("q"), done, Message.user("next")])).toBeUndefined()
  })
})

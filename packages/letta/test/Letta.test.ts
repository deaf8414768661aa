import { AgentBackend, Approval, type AgentEvent, ToolRule } from "@agentloop/core"
import { LettaClient, LettaModel, LettaRules } from "@agentloop/letta"
import { FakeLetta, Harness } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Stream } from "effect"

const modelFor = (fake: FakeLetta.FakeLetta, key = fake.apiKey) =>
  LettaModel.layer({ apiKey: Redacted.make(key), baseUrl: fake.url, agentId: fake.agentId, retry: { baseDelay: "5 millis" } })

const streamOf = (input: string, runId?: string) =>
  Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runCollect(b.stream({ input, ...(runId === undefined ? {} : { runId }) }))).pipe(
    Effect.map((c) => c as Array<AgentEvent.AgentEvent>)
  )

describe("LettaModel (messages stream)", () => {
  it.live("maps assistant text, reasoning (kept raw) and a server-side tool call and return", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [
          [
            { kind: "reasoning", text: "The user wants the time." },
            { kind: "server_tool", name: "web_search", args: { q: "time" }, result: "12:00" },
            { kind: "assistant", text: "It is noon." }
          ]
        ]
      })
      const h = Harness.over(modelFor(fake))
      const events = yield* streamOf("What time is it?").pipe(Effect.provide(h.layer))
      expect(events.find((e) => e._tag === "Raw")).toMatchObject({ source: "letta", data: { message_type: "reasoning_message", reasoning: "The user wants the time." } })
      expect(events.filter((e) => e._tag === "ToolCalled" || e._tag === "ToolResult")).toMatchObject([
        { _tag: "ToolCalled", toolName: "web_search", arguments: { q: "time" }, remote: true },
        { _tag: "ToolResult", toolName: "web_search", content: "12:00", remote: true }
      ])
      expect(events.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "It is noon." } })
      expect(fake.requests[0]!.body).toMatchObject({
        messages: [{ type: "message", role: "user", content: "What time is it?" }],
        client_tools: [{ name: "get_weather", parameters: { type: "object" } }, { name: "set_alarm" }]
      })
      expect(fake.requests[0]!.headers["authorization"]).toBe("Bearer letta-key")
    }))

  it.live("a client tool: Letta asks, our loop runs it, the result goes back as an approval of type tool", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [[{ kind: "assistant", text: "Checking." }, { kind: "client_tool", name: "get_weather", args: { city: "Oslo" }, id: "call-1" }], [{ kind: "assistant", text: "5C and rain." }]]
      })
      const h = Harness.over(modelFor(fake))
      const events = yield* streamOf("Weather?").pipe(Effect.provide(h.layer))
      expect(h.calls).toEqual(["get_weather:Oslo"])
      expect(events.at(-1)).toMatchObject({ outcome: { _tag: "Completed", text: "5C and rain." } })
      expect(fake.requests[1]!.body.messages).toEqual([
        { type: "approval", approvals: [{ type: "tool", tool_call_id: "call-1", tool_return: "Oslo: 5C, rain", status: "success", stdout: [], stderr: [] }] }
      ])
      expect(fake.clientReturns.get("call-1")).toEqual({ tool_return: "Oslo: 5C, rain", status: "success" })
    }))

  it.live("Letta's own tool needing approval goes through our Approvals; approved, Letta runs it", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [[{ kind: "approval", name: "archival_delete", args: { id: "m1" }, result: "deleted m1", id: "call-9" }], [{ kind: "assistant", text: "Deleted." }]]
      })
      const h = Harness.over(modelFor(fake), { approvals: Approval.layerPolicy(() => Approval.Verdict.approved({ by: "policy" })) })
      const events = yield* streamOf("forget m1").pipe(Effect.provide(h.layer))
      expect(fake.requests[1]!.body.messages).toEqual([{ type: "approval", approvals: [{ type: "approval", tool_call_id: "call-9", approve: true }] }])
      expect(events.filter((e) => e._tag === "ApprovalDecided")).toMatchObject([{ toolName: "archival_delete", approved: true, decidedBy: "policy" }])
      expect(events.find((e) => e._tag === "ToolResult")).toMatchObject({ toolName: "archival_delete", content: "deleted m1", remote: true, isError: false })
      expect(h.calls).toEqual([])
    }))

  it.live("a denial carries the reason; suspension and resume answer every pending call at once", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [
          [
            { kind: "client_tool", name: "set_alarm", args: { time: "07:00" }, id: "call-a" },
            { kind: "approval", name: "archival_delete", args: { id: "m2" }, result: "deleted", id: "call-b" }
          ],
          [{ kind: "assistant", text: "Done." }]
        ]
      })
      const h = Harness.over(modelFor(fake), { approvals: Approval.layerSuspend() })
      yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const first = yield* backend.run({ input: "alarm and forget", runId: "letta-1" })
        if (first._tag !== "Suspended") throw new Error("expected a suspension")
        expect(first.pending.map((p) => p.toolName)).toEqual(["set_alarm", "archival_delete"])
        const done = yield* backend.resume("letta-1", [
          Approval.approve(first.pending[0]!, { by: "me" }),
          Approval.deny(first.pending[1]!, "keep it", { by: "me" })
        ])
        expect(done).toMatchObject({ _tag: "Completed", text: "Done." })
      }).pipe(Effect.provide(h.layer))
      expect(h.calls).toEqual(["set_alarm:07:00"])
      expect(fake.requests[1]!.body.messages[0].approvals).toEqual([
        { type: "tool", tool_call_id: "call-a", tool_return: "alarm set for 07:00", status: "success", stdout: [], stderr: [] },
        { type: "approval", tool_call_id: "call-b", approve: false, reason: "keep it" }
      ])
    }))

  it.live("errors: a wrong key, a new message while approvals are pending (409), event:error, a dropped stream", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [
          [{ kind: "client_tool", name: "set_alarm", args: { time: "1" }, id: "call-p" }],
          [{ kind: "error", message: "LLM provider failed" }],
          { dropAfter: 1, items: [{ kind: "assistant", text: "a" }, { kind: "assistant", text: "b" }] }
        ]
      })
      const run = (h: ReturnType<typeof Harness.over>, input: string) =>
        Effect.flip(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input })).pipe(Effect.provide(h.layer)))
      const unauthorized = yield* run(Harness.over(modelFor(fake, "bad")), "x")
      expect(unauthorized).toMatchObject({ _tag: "ModelError", status: 401, provider: "letta" })
      // Leave a call pending on the Letta side (our run suspends), then start another conversation.
      const suspending = Harness.over(modelFor(fake), { approvals: Approval.layerSuspend() })
      yield* Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "x" })).pipe(Effect.provide(suspending.layer))
      const conflict = yield* run(Harness.over(modelFor(fake)), "hello again")
      expect(conflict).toMatchObject({ status: 409, retryable: false })
      expect(conflict.message).toContain("Please approve or deny the pending request before continuing")
    }))

  it.live("event:error and a stream dropped mid-way become ModelErrors; a malformed line is kept raw", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        turns: [
          [{ kind: "raw", data: "{not json" }, { kind: "error", message: "LLM provider failed" }],
          { dropAfter: 1, items: [{ kind: "assistant", text: "a" }] }
        ]
      })
      const h = Harness.over(modelFor(fake))
      const seen: Array<AgentEvent.AgentEvent> = []
      const error = yield* Effect.flip(
        Effect.flatMap(AgentBackend.AgentBackend, (b) => Stream.runForEach(b.stream({ input: "x" }), (e) => Effect.sync(() => seen.push(e)))).pipe(Effect.provide(h.layer))
      )
      expect(error).toMatchObject({ _tag: "ModelError", message: "letta: LLM provider failed" })
      expect(seen.find((e) => e._tag === "Raw")).toMatchObject({ data: { malformed: "{not json" } })
      const dropped = yield* Effect.flip(Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "y" })).pipe(Effect.provide(Harness.over(modelFor(fake)).layer)))
      expect(dropped).toMatchObject({ _tag: "ModelError", retryable: false, reason: "transport" })
    }))
})

describe("LettaRules", () => {
  const all = [
    ToolRule.init("a", { args: { x: 1 } }),
    ToolRule.child("a", ["b", "c"], { childArgNodes: [{ name: "b", args: { y: 2 } }] }),
    ToolRule.parent("p", ["c"]),
    ToolRule.terminal("send_message"),
    ToolRule.continue("search"),
    ToolRule.conditional("flip", { childOutputMapping: { heads: "a", tails: "b" }, defaultChild: "c", requireOutputMapping: false }),
    ToolRule.requiredBeforeExit("save"),
    ToolRule.maxCountPerStep("search", 3),
    ToolRule.requiresApproval("delete")
  ]

  it("translates all nine kinds to Letta's wire format and back", () => {
    const wire = all.map(LettaRules.toLetta)
    expect(wire.map((r) => r.type)).toEqual([
      "run_first",
      "constrain_child_tools",
      "parent_last_tool",
      "exit_loop",
      "continue_loop",
      "conditional",
      "required_before_exit",
      "max_count_per_step",
      "requires_approval"
    ])
    expect(wire[1]).toEqual({ type: "constrain_child_tools", tool_name: "a", children: ["b", "c"], child_arg_nodes: [{ name: "b", args: { y: 2 } }] })
    expect(wire[7]).toEqual({ type: "max_count_per_step", tool_name: "search", max_count_limit: 3 })
    const back = LettaRules.fromLetta(wire)
    expect(back.unknown).toEqual([])
    expect(back.rules.map(ToolRule.key)).toEqual(all.map(ToolRule.key))
  })

  it("keeps rule types it does not know aside instead of dropping them", () => {
    expect(LettaRules.fromLetta([{ type: "future_rule", tool_name: "x", extra: 1 }]).unknown).toEqual([{ type: "future_rule", tool_name: "x", extra: 1 }])
  })
})

describe("LettaClient (Tools API)", () => {
  const clientFor = (fake: FakeLetta.FakeLetta) =>
    LettaClient.layer({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, retry: { baseDelay: "5 millis" } }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const tools = Array.from({ length: 25 }, (_, i) => ({ id: `tool-${String(i).padStart(3, "0")}`, name: `tool_${i}` }))

  it.live("lists with cursor paging, attaches, detaches, sets approval with the accepted key, runs a tool", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({ tools: [...tools, { id: "tool-999", name: "extra", attached: false }] })
      yield* Effect.gen(function* () {
        const client = yield* LettaClient.LettaClient
        const firstPage = yield* client.listTools(fake.agentId)
        expect(firstPage).toHaveLength(10) // Letta's default page
        expect(firstPage[0]!.id).toBe("tool-024") // default order: desc
        const all = yield* Stream.runCollect(client.allTools(fake.agentId, { pageSize: 10 }))
        expect(all.map((t) => t.id)).toEqual(tools.map((t) => t.id))
        yield* client.attachTool(fake.agentId, "tool-999")
        expect(yield* Stream.runCollect(client.allTools(fake.agentId))).toHaveLength(26)
        yield* client.detachTool(fake.agentId, "tool-000")
        yield* client.setToolApproval(fake.agentId, "extra", true)
        expect(fake.requests.at(-1)!.body).toEqual({ requires_approval: true })
        expect(fake.toolRules()).toEqual([{ type: "requires_approval", tool_name: "extra" }])
        expect(yield* client.runTool(fake.agentId, "extra", { n: 1 })).toMatchObject({ status: "success", func_return: { tool: "extra", args: { n: 1 } } })
        const missing = yield* Effect.flip(client.runTool(fake.agentId, "tool_0", {}))
        expect(missing).toMatchObject({ _tag: "LettaError", operation: "runTool", status: 404 })
      }).pipe(Effect.provide(clientFor(fake)))
    }))

  it.live("setToolRules reads the rules back and fails when Letta dropped some", () =>
    Effect.gen(function* () {
      const good = yield* FakeLetta.make()
      yield* Effect.flatMap(LettaClient.LettaClient, (c) => c.setToolRules(good.agentId, [ToolRule.terminal("send_message"), ToolRule.init("search")])).pipe(
        Effect.provide(clientFor(good))
      )
      expect(good.toolRules()).toEqual([
        { type: "exit_loop", tool_name: "send_message" },
        { type: "run_first", tool_name: "search" }
      ])
      const lossy = yield* FakeLetta.make({ dropRuleTypes: ["exit_loop"] })
      const error = yield* Effect.flip(
        Effect.flatMap(LettaClient.LettaClient, (c) => c.setToolRules(lossy.agentId, [ToolRule.terminal("send_message")])).pipe(Effect.provide(clientFor(lossy)))
      )
      expect(error).toMatchObject({ _tag: "LettaRulesNotPersisted" })
      expect(error.message).toContain("did not keep 1 tool rule(s): exit_loop(send_message)")
    }))

  it.live("runTool is never re-sent after a 500 or a reset (the tool may have run); a PATCH is retried", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({
        tools: [{ id: "tool-1", name: "charge_card" }],
        faults: [
          { method: "POST", path: /\/run$/, answer: { status: 500, body: { detail: "tool crashed" } } },
          { method: "POST", path: /\/run$/, answer: { fault: "reset" } },
          { method: "PATCH", answer: { fault: "reset" } }
        ]
      })
      yield* Effect.gen(function* () {
        const client = yield* LettaClient.LettaClient
        const crashed = yield* Effect.flip(client.runTool(fake.agentId, "charge_card", { cents: 100 }))
        expect(crashed).toMatchObject({ _tag: "LettaError", operation: "runTool", status: 500 })
        const reset = yield* Effect.flip(client.runTool(fake.agentId, "charge_card", { cents: 100 }))
        expect(reset).toMatchObject({ _tag: "LettaError", operation: "runTool" })
        expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(2)
        yield* client.setToolApproval(fake.agentId, "charge_card", true)
        expect(fake.requests.filter((r) => r.method === "PATCH")).toHaveLength(2)
      }).pipe(Effect.provide(clientFor(fake)))
    }))

  it.live("the fake refuses unknown request fields with Letta's 422, so a misnamed field cannot pass", () =>
    Effect.gen(function* () {
      const fake = yield* FakeLetta.make({ turns: [[{ kind: "assistant", text: "hi" }]] })
      const response = yield* Effect.promise(() =>
        fetch(`${fake.url}/v1/agents/${fake.agentId}/messages/stream`, {
          method: "POST",
          headers: { Authorization: `Bearer ${fake.apiKey}`, "Content-Type": "application/json" },
          body: JSON.stringify({ messages: [{ role: "user", content: "hi", text: "typo" }], clienttools: [] })
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { detail: Array<{ loc: Array<string> }> } }))
      )
      expect(response.status).toBe(422)
      expect(response.body.detail.map((d) => d.loc.join("."))).toEqual(["body.clienttools", "body.messages.0.text"])
    }))
})

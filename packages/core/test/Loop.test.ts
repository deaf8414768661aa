import { Agent, AgentBackend, AgentEvent, Approval, type RunState, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { agent, harness, runCollect, toolResults } from "./fixtures.js"

const S = ScriptedModel

describe("the loop", () => {
  it.effect("reasons, runs tools and continues until the model answers in text", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("add", { a: 2, b: 3 }), S.toolCall("echo", { text: "5" }), S.text(["The answer ", "is 5."])])
      const { events, outcome } = yield* runCollect("what is 2+3?").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "The answer is 5.", steps: 3 })
      expect(h.handlers.names()).toEqual(["add", "echo"])
      expect(toolResults(events).map((r) => r.content)).toEqual(["5", "5"])
      expect(events.filter((e) => e._tag === "TextDelta").map((e) => (e as { delta: string }).delta)).toEqual(["The answer ", "is 5."])
      // The third request saw the whole history: user, assistant+call, result, assistant+call, result.
      expect(h.model.requests[2]!.messages.map((m) => m._tag)).toEqual([
        "UserMessage",
        "AssistantMessage",
        "ToolMessage",
        "AssistantMessage",
        "ToolMessage"
      ])
      expect(outcome._tag === "Completed" && outcome.usage.totalTokens).toBeGreaterThan(0)
      yield* h.model.assertComplete
    }))

  it.effect("events arrive in order: start, step, calls, results, finish", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "hi" }), S.text("done")])
      const { events } = yield* runCollect("hi").pipe(Effect.provide(h.layer))
      expect(events.map((e) => e._tag)).toEqual([
        "RunStarted",
        "StepStarted",
        "UsageReported",
        "ToolCalled",
        "ToolResult",
        "StepFinished",
        "StepStarted",
        "TextDelta",
        "UsageReported",
        "StepFinished",
        "RunFinished"
      ])
    }))

  it.effect("stops at max steps (default 20)", () =>
    Effect.gen(function* () {
      const h = harness(Array.from({ length: 20 }, () => S.toolCall("echo", { text: "again" })))
      const { outcome } = yield* runCollect("loop forever").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "max_steps", steps: 20 })
      expect(h.model.requests).toHaveLength(20)
      expect(h.handlers.names()).toHaveLength(20)
    }))

  it.effect("custom stop conditions: a tool was called, a predicate, an Effect", () =>
    Effect.gen(function* () {
      const byTool = harness([S.toolCall("echo", { text: "a" }), S.toolCall("finish", {})], {
        agent: agent({ stopWhen: [Agent.StopCondition.hasToolCall("finish")] })
      })
      const r1 = yield* runCollect("x").pipe(Effect.provide(byTool.layer))
      expect(r1.outcome).toMatchObject({ _tag: "Stopped", reason: "stop_condition", detail: "one of [finish] was called", steps: 2 })

      const byEffect = harness([S.toolCall("echo", { text: "a" })], {
        agent: agent({ stopWhen: [Agent.StopCondition.make("first result seen", ({ executed }) => Effect.succeed(executed.length > 0))] })
      })
      const r2 = yield* runCollect("x").pipe(Effect.provide(byEffect.layer))
      expect(r2.outcome).toMatchObject({ _tag: "Stopped", detail: "first result seen", steps: 1 })

      const byTokens = harness([S.toolCall("echo", { text: "a" }, { usage: { inputTokens: 90, outputTokens: 20 } })], {
        agent: agent({ stopWhen: [Agent.StopCondition.tokensExceed(100)] })
      })
      const r3 = yield* runCollect("x").pipe(Effect.provide(byTokens.layer))
      expect(r3.outcome).toMatchObject({ _tag: "Stopped", reason: "stop_condition" })
    }))

  it.effect("a length finish without tool calls stops with max_tokens", () =>
    Effect.gen(function* () {
      const h = harness([S.text("truncat", { finishReason: "length" })])
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "max_tokens", text: "truncat" })
    }))

  it.effect("a model error fails the run with ModelError, keeps the state, and resume retries the step", () => {
    const h = harness([S.toolCall("echo", { text: "a" }), S.error("provider down", { retryable: true }), S.text("recovered")])
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const exit = yield* backend.run({ input: "x", runId: "run-fail" }).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("ModelError")
      const saved = Option.getOrThrow(yield* backend.getRun("run-fail"))
      expect(saved).toMatchObject({ status: "failed", step: 1, error: "provider down" })
      const outcome = yield* backend.resume("run-fail", [])
      expect(outcome).toMatchObject({ _tag: "Completed", text: "recovered", steps: 2 })
      expect(h.handlers.names()).toEqual(["echo"]) // the finished step was not re-run
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("an EventObserver provided where a run runs sees it, though the backend's layer has none", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "a" }), S.text("done")])
      const observed: Array<string> = []
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "x" })).pipe(
        Effect.provideService(AgentEvent.EventObserver, { observe: (event) => void observed.push(event._tag) }),
        Effect.provide(h.layer)
      )
      expect(outcome).toMatchObject({ _tag: "Completed", text: "done" })
      expect(observed).toEqual(expect.arrayContaining(["RunStarted", "ToolCalled", "ToolResult", "RunFinished"]))
      // Without an observer the same backend runs quietly (and on the non-streaming path).
      const quiet = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "y" })).pipe(
        Effect.provide(harness([S.toolCall("echo", { text: "b" }), S.text("done")]).layer)
      )
      expect(quiet).toMatchObject({ _tag: "Completed", steps: 2 })
    }))

  it.effect("a saved state is a snapshot: steps taken after it never change it", () => {
    const h = harness([S.toolCall("echo", { text: "a" }), S.toolCall("deploy", { version: "1" }), S.toolCall("echo", { text: "b" }), S.text("done")], {
      approvals: Approval.layerSuspend()
    })
    return Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const first = yield* backend.run({ input: "x", runId: "run-snap" })
      if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
      const atSuspension = Option.getOrThrow(yield* backend.getRun("run-snap"))
      expect(atSuspension.toolHistory).toEqual(["echo"])
      const messagesAtSuspension = atSuspension.messages.length
      const done = yield* backend.resume("run-snap", [Approval.approve(first.pending[0]!)])
      expect(done).toMatchObject({ _tag: "Completed", steps: 4 })
      expect(atSuspension.toolHistory).toEqual(["echo"])
      expect(atSuspension.messages).toHaveLength(messagesAtSuspension)
      expect(Option.getOrThrow(yield* backend.getRun("run-snap")).toolHistory).toEqual(["echo", "deploy", "echo"])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("the state a stop condition sees mid-run stays as it was", () => {
    const seen: Array<RunState.RunState> = []
    const h = harness([S.toolCall("echo", { text: "a" }), S.toolCall("echo", { text: "b" }), S.text("done")], {
      agent: agent({ stopWhen: [Agent.StopCondition.make("never", ({ state }) => Effect.sync(() => (seen.push(state), false)))] })
    })
    return Effect.gen(function* () {
      yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "x" }))
      expect(seen.map((state) => state.toolHistory)).toEqual([["echo"], ["echo", "echo"]])
      expect(seen.map((state) => state.messages.length)).toEqual([3, 5])
    }).pipe(Effect.provide(h.layer))
  })

  it.effect("several calls in one step all run, results in call order", () =>
    Effect.gen(function* () {
      const h = harness([
        S.toolCalls([
          { name: "add", args: { a: 1, b: 1 } },
          { name: "echo", args: { text: "x" } },
          { name: "add", args: { a: 2, b: 2 } }
        ]),
        S.text("ok")
      ])
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(toolResults(events).map((r) => r.content)).toEqual(["2", "x", "4"])
      expect(h.model.requests[0]!.parallelToolCalls).toBe(true)
    }))
})

describe("tool choice", () => {
  const choices = (h: ReturnType<typeof harness>) => h.model.requests.map((r) => r.toolChoice)

  it.effect("none offers no tools", () =>
    Effect.gen(function* () {
      const h = harness([S.text("just text")], { agent: agent({ toolChoice: "none" }) })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.model.requests[0]).toMatchObject({ tools: [], toolChoice: "none" })
    }))

  it.effect("auto offers every tool", () =>
    Effect.gen(function* () {
      const h = harness([S.text("x")])
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.model.requests[0]).toMatchObject({ toolChoice: "auto", tools: ["echo", "add", "decide", "finish", "save", "deploy", "fail"] })
    }))

  it.effect("required resets to auto after a tool call (no runaway loop)", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "a" }), S.text("done")], { agent: agent({ toolChoice: "required" }) })
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(choices(h)).toEqual(["required", "auto"])
      expect(outcome._tag).toBe("Completed")
    }))

  it.effect("required stays when resetToolChoice is false", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "a" }), S.toolCall("echo", { text: "b" })], {
        agent: agent({ toolChoice: "required", resetToolChoice: false, maxSteps: 2 })
      })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(choices(h)).toEqual(["required", "required"])
    }))

  it.effect("one named function is forced until it is called, then auto", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "a" }), S.toolCall("add", { a: 1, b: 2 }), S.text("done")], {
        agent: agent({ toolChoice: { function: "add" } })
      })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(choices(h)).toEqual([{ function: "add" }, { function: "add" }, "auto"])
    }))
})

describe("tool rules through the loop", () => {
  const withRules = (rules: ReadonlyArray<ToolRule.ToolRule>, turns: ReadonlyArray<ScriptedModel.Turn>, extra: Partial<Agent.Options<any>> = {}) =>
    harness(turns, { agent: agent({ rules, ...extra }) })

  it.effect("init -> child chain -> terminal: tools and tool choice are forced step by step", () =>
    Effect.gen(function* () {
      const h = withRules(
        [ToolRule.init("echo"), ToolRule.child("echo", ["add"]), ToolRule.child("add", ["finish"]), ToolRule.terminal("finish")],
        [S.toolCall("echo", { text: "a" }), S.toolCall("add", { a: 1, b: 2 }), S.toolCall("finish", {})]
      )
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool", steps: 3 })
      expect(h.handlers.names()).toEqual(["echo", "add", "finish"])
      expect(h.model.requests.map((r) => [r.tools, r.toolChoice])).toEqual([
        [["echo"], { function: "echo" }],
        [["add"], { function: "add" }],
        [["finish"], { function: "finish" }]
      ])
      expect(h.model.requests[0]!.parallelToolCalls).toBe(false)
    }))

  it.effect("a call the rules forbid is not executed; the model is told the valid tools and retries", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("echo")], [S.toolCall("add", { a: 1, b: 2 }), S.toolCall("echo", { text: "ok" }), S.text("done")])
      const { events, outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome._tag).toBe("Completed")
      const [violation, ok] = toolResults(events)
      expect(violation).toMatchObject({ errorKind: "RuleViolation", isError: true })
      expect(violation!.content).toContain("[ToolConstraintError] Cannot call add, valid tools include: [echo].")
      expect(ok!.content).toBe("ok")
      expect(h.handlers.names()).toEqual(["echo"])
    }))

  it.effect("init prefill overrides the model's value (the model cannot swap the key)", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("echo", { args: { text: "REAL" } })], [S.toolCall("echo", { text: "FAKE" }), S.text("done")])
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.handlers.calls[0]!.args).toEqual({ text: "REAL" })
      expect(events.find((e) => e._tag === "ToolCalled")).toMatchObject({ arguments: { text: "REAL" }, prefilledBy: "Init(echo)" })
    }))

  it.effect("child arg nodes prefill the chosen child", () =>
    Effect.gen(function* () {
      const h = withRules(
        [ToolRule.child("echo", ["add"], { childArgNodes: [{ name: "add", args: { a: 40 } }] })],
        [S.toolCall("echo", { text: "x" }), S.toolCall("add", { a: 1, b: 2 }), S.text("done")]
      )
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(h.handlers.calls[1]!.args).toEqual({ a: 40, b: 2 })
    }))

  it.effect("invalid rules are rejected before any model request", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("missing_tool"), ToolRule.child("echo", ["ghost"])], [])
      const exit = yield* runCollect("x").pipe(Effect.provide(h.layer), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = JSON.stringify(exit)
      expect(error).toContain("InvalidToolRules")
      expect(error).toContain('tool \\"missing_tool\\" is not in the toolkit')
      expect(h.model.requests).toHaveLength(0)
    }))

  it.effect("continue and terminal: the continue tool goes on, the terminal tool ends", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.continue("echo"), ToolRule.terminal("finish")], [
        S.toolCall("echo", { text: "a" }, { text: "Echoing first." }),
        S.toolCall("finish", {})
      ])
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool", text: "Echoing first." })
      expect(h.handlers.names()).toEqual(["echo", "finish"])
    }))

  it.effect("required-before-exit overrides a terminal tool and re-prompts", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("finish"), ToolRule.requiredBeforeExit("save"), ToolRule.terminal("finish")], [
        S.toolCall("finish", {}),
        S.toolCall("save", {}),
        S.toolCall("finish", {})
      ])
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool", steps: 3 })
      expect(h.handlers.names()).toEqual(["finish", "save", "finish"])
      const reprompt = h.model.requests[1]!.messages.at(-1)
      expect(reprompt).toMatchObject({ _tag: "UserMessage" })
      expect((reprompt as { content: string }).content).toContain("You must call save at least once to exit the loop.")
    }))

  it.effect("a text answer with required tools uncalled re-prompts instead of finishing", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.requiredBeforeExit("save"), ToolRule.requiredBeforeExit("echo")], [
        S.text("I'm done"),
        S.toolCall("save", {}),
        S.text("done now?"),
        S.toolCall("echo", { text: "x" }),
        S.text("really done")
      ])
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "really done" })
      expect((h.model.requests[1]!.messages.at(-1) as { content: string }).content).toContain("save, echo")
      expect((h.model.requests[3]!.messages.at(-1) as { content: string }).content).toContain("call echo at least once")
    }))

  it.effect("init(save) + required(save) + terminal(finish): a clean exit, each called once", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("save"), ToolRule.requiredBeforeExit("save"), ToolRule.terminal("finish")], [
        S.toolCall("save", {}),
        S.toolCall("finish", {})
      ])
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool" })
      expect(h.handlers.names()).toEqual(["save", "finish"])
    }))

  it.effect("init on a tool that always fails: the tool is invoked, its failure does not satisfy init, and a text answer cannot complete the run", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.init("fail")], [S.toolCall("fail", {}), S.text("it failed")], { toolChoiceRetries: 0 })
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "tool_choice" })
      expect(h.model.requests.map((r) => r.toolChoice)).toEqual([{ function: "fail" }, { function: "fail" }])
      expect(h.handlers.names()).toEqual(["fail"])
    }))

  it.effect("conditional: the tool's output picks the next tool", () =>
    Effect.gen(function* () {
      const h = withRules(
        [ToolRule.conditional("decide", { childOutputMapping: { yes: "finish", no: "echo" } }), ToolRule.terminal("finish")],
        [S.toolCall("decide", { value: "no" }), S.toolCall("echo", { text: "retry" }), S.toolCall("decide", { value: "yes" }), S.toolCall("finish", {})]
      )
      const { outcome } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool" })
      expect(h.model.requests[1]!.toolChoice).toEqual({ function: "echo" })
      expect(h.model.requests[3]!.toolChoice).toEqual({ function: "finish" })
    }))

  it.effect("parent: children run only right after the parent", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.parent("save", ["deploy"])], [
        S.toolCall("deploy", { version: "1" }),
        S.toolCall("save", {}),
        S.toolCall("deploy", { version: "1" }),
        S.text("done")
      ])
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(toolResults(events).map((r) => r.errorKind ?? "ok")).toEqual(["RuleViolation", "ok", "ok"])
      expect(h.model.requests[0]!.tools).not.toContain("deploy")
      expect(h.model.requests[2]!.tools).toEqual(["deploy"])
    }))

  it.effect("max count per step: calls past the limit are rejected, even within one step", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.maxCountPerStep("echo", 2)], [
        S.toolCalls([
          { name: "echo", args: { text: "1" } },
          { name: "echo", args: { text: "2" } },
          { name: "echo", args: { text: "3" } }
        ]),
        S.text("done")
      ])
      const { events } = yield* runCollect("x").pipe(Effect.provide(h.layer))
      expect(toolResults(events).map((r) => r.errorKind ?? "ok")).toEqual(["ok", "ok", "RuleViolation"])
      expect(h.model.requests[1]!.tools).not.toContain("echo")
    }))

  it.effect("rules are described in the system message", () =>
    Effect.gen(function* () {
      const h = withRules([ToolRule.terminal("finish")], [S.text("x")], { instructions: "Be brief." })
      yield* runCollect("x").pipe(Effect.provide(h.layer))
      const system = h.model.requests[0]!.messages[0]
      expect(system).toMatchObject({ _tag: "SystemMessage" })
      expect((system as { content: string }).content).toMatch(/^Be brief\.\n\n<tool_usage_rules>[\s\S]*finish ends your response/)
    }))

  it.effect("a run's history survives the run store: a completed run reports its outcome", () =>
    Effect.gen(function* () {
      const backend = yield* AgentBackend.AgentBackend
      const outcome = yield* backend.run({ input: "x", runId: "r1" })
      const state = Option.getOrThrow(yield* backend.getRun("r1"))
      expect(state.status).toBe("completed")
      expect(state.outcome).toEqual(outcome)
      const exit = yield* backend.resume("r1", []).pipe(Effect.exit)
      expect(JSON.stringify(exit)).toContain('its status is \\"completed\\"')
      const again = yield* backend.run({ input: "y", runId: "r1" }).pipe(Effect.flip)
      expect(again).toMatchObject({ _tag: "RunAlreadyExists", runId: "r1" })
    }).pipe(Effect.provide(harness([S.text("hello")]).layer)))
})

describe("the scripted model", () => {
  it.effect("dies with ScriptDrift when the run asks for more turns than scripted", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "a" })])
      const exit = yield* runCollect("x").pipe(Effect.provide(h.layer), Effect.exit)
      expect(JSON.stringify(exit)).toContain("request #2 arrived but the script has only 1 turn(s)")
    }))

  it.effect("its checked layer dies when turns are left over", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([S.text("one"), S.text("two")])
      const exit = yield* Effect.scoped(Layer.build(model.layer)).pipe(Effect.exit)
      expect(JSON.stringify(exit)).toContain("2 scripted turn(s) were never used (used 0 of 2)")
      expect(model.remaining).toBe(2)
    }))
})

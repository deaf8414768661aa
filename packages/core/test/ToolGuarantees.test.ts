/**
 * Adversarial suite for the tool guarantees: disobedient models under each tool choice, failing required and
 * terminal tools (every error kind), rule sets that cannot work, and same-named tools of two agents in one
 * context.
 */
import { Agent, AgentBackend, Approval, LanguageModel, Loop, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema } from "effect"
import { agent, collect, harness, runCollect, toolResults } from "./fixtures.js"

const S = ScriptedModel

const runCollectResume = (backend: AgentBackend.Service, runId: string, decisions: ReadonlyArray<Approval.ApprovalDecision>) =>
  collect(backend.resumeStream(runId, decisions))

/** The typed failure of an Exit, or a test failure. */
const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.findErrorOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

const lastUserText = (messages: ReadonlyArray<{ readonly _tag: string }>) => {
  const last = messages[messages.length - 1] as { _tag: string; content?: string }
  return last._tag === "UserMessage" ? last.content : undefined
}

describe("tool choice is enforced against a disobedient model", () => {
  it.effect("none: a call made anyway is refused with an error result; no handler runs and no human is asked", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCalls([{ name: "echo", args: { text: "x" } }, { name: "deploy", args: { version: "1" } }]), S.text("ok, no tools")], {
        agent: agent({ toolChoice: "none" }),
        approvals: Approval.layerSuspend()
      })
      const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "ok, no tools" })
      const results = toolResults(events)
      expect(results.map((r) => [r.toolName, r.errorKind])).toEqual([
        ["echo", "RuleViolation"],
        ["deploy", "RuleViolation"]
      ])
      expect(results[0]!.content).toContain('tool choice is "none"')
      expect(events.some((e) => e._tag === "ApprovalRequested")).toBe(false)
      expect(h.handlers.calls).toEqual([])
      expect(h.model.requests.map((r) => [r.toolChoice, r.tools])).toEqual([
        ["none", []],
        ["none", []]
      ])
    }))

  it.effect("auto: a text answer completes the run", () =>
    Effect.gen(function* () {
      const h = harness([S.text("hi")])
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
    }))

  it.effect("required: text-only answers are re-prompted toolChoiceRetries times, then the run is Stopped, never Completed", () =>
    Effect.gen(function* () {
      const h = harness([S.text("no"), S.text("still no"), S.text("never"), S.text("nope")], {
        agent: agent({ toolChoice: "required", toolChoiceRetries: 3 })
      })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "tool_choice", text: "nope" })
      expect((outcome as { detail: string }).detail).toContain("answered in text 4 time(s)")
      expect(h.model.requests.map((r) => r.toolChoice)).toEqual(["required", "required", "required", "required"])
      for (const request of h.model.requests.slice(1)) expect(lastUserText(request.messages)).toContain("ToolChoiceViolated: You must call a tool")
      expect(h.model.remaining).toBe(0)
    }))

  it.effect("required: a model that obeys after a re-prompt goes on, and the choice resets once honoured", () =>
    Effect.gen(function* () {
      const h = harness([S.text("no"), S.toolCall("echo", { text: "fine" }), S.text("done")], { agent: agent({ toolChoice: "required" }) })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "done" })
      expect(h.model.requests.map((r) => r.toolChoice)).toEqual(["required", "required", "auto"])
      expect(h.handlers.names()).toEqual(["echo"])
    }))

  it.effect("required with toolChoiceRetries 0: the first text answer stops the run", () =>
    Effect.gen(function* () {
      const h = harness([S.text("no")], { agent: agent({ toolChoice: "required", toolChoiceRetries: 0 }) })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "tool_choice" })
      expect(h.model.requests).toHaveLength(1)
    }))

  it.effect("a named tool: a call of another tool is refused (its handler never runs); the named one runs", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "sneaky" }), S.toolCall("add", { a: 1, b: 2 }), S.text("3")], {
        agent: agent({ toolChoice: { function: "add" } })
      })
      const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
      const [refused, ran] = toolResults(events)
      expect(refused).toMatchObject({ toolName: "echo", errorKind: "RuleViolation", isError: true })
      expect(refused!.content).toContain("tool choice requires calling add")
      expect(ran).toMatchObject({ toolName: "add", isError: false, content: "3" })
      expect(h.handlers.names()).toEqual(["add"])
      expect(h.model.requests.map((r) => r.toolChoice)).toEqual([{ function: "add" }, { function: "add" }, "auto"])
    }))

  it.effect("a named tool: text-only answers are re-prompted (default twice), then Stopped", () =>
    Effect.gen(function* () {
      const h = harness([S.text("a"), S.text("b"), S.text("c")], { agent: agent({ toolChoice: { function: "add" } }) })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "tool_choice" })
      expect(lastUserText(h.model.requests[2]!.messages)).toContain("You must call add now")
    }))

  it.effect("a call the rules force (child rule), answered in text, is re-prompted and then Stopped", () =>
    Effect.gen(function* () {
      const h = harness([S.toolCall("echo", { text: "x" }), S.text("skip the child"), S.text("still skipping")], {
        agent: agent({ rules: [ToolRule.child("echo", ["add"])], toolChoiceRetries: 1 })
      })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "tool_choice" })
      expect(h.model.requests.slice(1).map((r) => r.toolChoice)).toEqual([{ function: "add" }, { function: "add" }])
    }))

  it.effect("a named tool that is not in the toolkit is InvalidToolChoice when the backend is built", () =>
    Effect.gen(function* () {
      const h = harness([], { agent: agent({ toolChoice: { function: "ghost" } }) })
      const error = failureOf(yield* runCollect("go").pipe(Effect.provide(h.layer), Effect.exit))
      expect(error).toBeInstanceOf(Agent.InvalidToolChoice)
      expect(error).toMatchObject({ _tag: "InvalidToolChoice", tool: "ghost", agent: "test-agent" })
      expect(error.message).toContain("not in the toolkit")
      expect(h.model.requests).toHaveLength(0)
    }))

  it.effect("a named tool the rules forbid at the first step (init on another tool, or a parent rule) is InvalidToolChoice", () =>
    Effect.gen(function* () {
      for (const rules of [[ToolRule.init("echo")], [ToolRule.parent("echo", ["add"])]]) {
        const h = harness([], { agent: agent({ toolChoice: { function: "add" }, rules }) })
        const error = failureOf(yield* runCollect("go").pipe(Effect.provide(h.layer), Effect.exit))
        expect(error).toMatchObject({ _tag: "InvalidToolChoice", tool: "add" })
        expect(error.message).toContain("forbidden by the tool rules at the first step")
      }
    }))

  it("toolChoiceRetries must be an integer >= 0", () => {
    expect(() => agent({ toolChoiceRetries: -1 })).toThrow(/toolChoiceRetries must be an integer >= 0/)
  })
})

/** A tool whose handler fails with the given kind on its first `failures` calls, then succeeds. */
const failing = (name: string, kind: "ToolFailed" | "Timeout" | "Defect" | "Throw" | "InvalidResult", failures: number) => {
  const tool = Tool.make(name, {
    description: `${name}, failing with ${kind} at first`,
    success: Schema.String,
    failure: Schema.Struct({ code: Schema.String }),
    timeout: "20 millis"
  })
  let calls = 0
  const handler: Tool.AnyHandlerFn = () => {
    calls++
    if (calls > failures) return Effect.succeed(`${name} ok`)
    switch (kind) {
      case "ToolFailed":
        return Effect.fail({ code: "E_DOWN" })
      case "Timeout":
        return Effect.never
      case "Defect":
        return Effect.die(new Error("handler died"))
      case "Throw":
        throw new Error("handler threw")
      case "InvalidResult":
        return Effect.succeed(42 as unknown as string)
    }
  }
  return { tool, handler, calls: () => calls }
}

const kinds = ["ToolFailed", "Timeout", "Defect", "Throw", "InvalidResult"] as const
const expectedKind = (kind: (typeof kinds)[number]) => (kind === "Throw" ? "Defect" : kind)

/** A backend over one custom toolkit with a scripted model. */
const customBackend = (tools: ReadonlyArray<{ tool: Tool.Any; handler: Tool.AnyHandlerFn }>, rules: ReadonlyArray<ToolRule.ToolRule>, turns: ReadonlyArray<ScriptedModel.Turn>, extra: Partial<Agent.Options<any>> = {}) => {
  const toolkit = Toolkit.make(...tools.map((t) => t.tool))
  const model = ScriptedModel.make(turns)
  const handlers = Object.fromEntries(tools.map((t) => [t.tool.name, t.handler]))
  const layer = AgentBackend.layerLocal(Agent.make({ name: "failing", toolkit, rules, ...extra })).pipe(
    Layer.provide(Layer.mergeAll(model.layer, toolkit.toLayer(handlers as never), Approval.layerAutoApprove, RunStore.layerMemory))
  )
  return { model, layer }
}

describe("only successful calls satisfy rules", () => {
  for (const kind of kinds) {
    it.live(`a terminal tool that fails (${kind}) does not end the run: the model sees the error and goes on`, () =>
      Effect.gen(function* () {
        const finish = failing("finish", kind, 1)
        const { layer, model } = customBackend([finish], [ToolRule.terminal("finish")], [S.toolCall("finish", {}), S.toolCall("finish", {})])
        const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
        expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool", steps: 2 })
        const [failed, ok] = toolResults(events)
        expect(failed).toMatchObject({ isError: true, errorKind: expectedKind(kind) })
        expect(ok).toMatchObject({ isError: false, content: "finish ok" })
        expect(model.requests[1]!.messages.some((m) => m._tag === "ToolMessage" && m.isError)).toBe(true)
        expect(finish.calls()).toBe(2)
      }))

    it.live(`a required-before-exit tool that fails (${kind}) is not counted as called: a text answer is re-prompted`, () =>
      Effect.gen(function* () {
        const save = failing("save", kind, 1)
        const { layer, model } = customBackend([save], [ToolRule.requiredBeforeExit("save")], [
          S.toolCall("save", {}),
          S.text("done?"),
          S.toolCall("save", {}),
          S.text("done")
        ])
        const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
        expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "done", steps: 4 })
        expect(lastUserText(model.requests[2]!.messages)).toContain("ToolRuleViolated: You must call save at least once")
        expect(toolResults(events).map((r) => r.errorKind ?? "ok")).toEqual([expectedKind(kind), "ok"])
      }))
  }

  it.live("a terminal tool that fails does not satisfy a required-before-exit rule on itself either", () =>
    Effect.gen(function* () {
      const finish = failing("finish", "ToolFailed", 1)
      const { layer, model } = customBackend([finish], [ToolRule.terminal("finish"), ToolRule.requiredBeforeExit("finish")], [
        S.toolCall("finish", {}),
        S.text("giving up"),
        S.toolCall("finish", {})
      ])
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool" })
      expect(lastUserText(model.requests[2]!.messages)).toContain("You must call finish at least once")
    }))

  it.live("failed calls spend max-count budget: a tool limited to 2 whose handler fails runs twice, the third call is refused", () =>
    Effect.gen(function* () {
      const flaky = failing("flaky", "ToolFailed", 10)
      const { layer } = customBackend([flaky], [ToolRule.maxCountPerStep("flaky", 2)], [
        S.toolCall("flaky", {}),
        S.toolCall("flaky", {}),
        S.toolCall("flaky", {}),
        S.text("out of attempts")
      ])
      const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
      expect(toolResults(events).map((r) => r.errorKind)).toEqual(["ToolFailed", "ToolFailed", "RuleViolation"])
      expect(flaky.calls()).toBe(2)
    }))

  it.effect("max-count budget, failed attempts included, survives suspend and resume", () =>
    Effect.gen(function* () {
      const h = harness(
        [
          S.toolCalls([{ name: "fail", id: "f1" }, { name: "deploy", args: { version: "1" }, id: "d1" }]),
          S.toolCalls([{ name: "fail", id: "f2" }, { name: "deploy", args: { version: "2" }, id: "d2" }]),
          S.text("done")
        ],
        { agent: agent({ rules: [ToolRule.maxCountPerStep("fail", 1), ToolRule.maxCountPerStep("deploy", 1)] }), approvals: Approval.layerSuspend() }
      )
      const result = yield* Effect.gen(function* () {
        const backend = yield* AgentBackend.AgentBackend
        const first = yield* backend.run({ input: "go" })
        if (first._tag !== "Suspended") throw new Error(`expected Suspended, got ${first._tag}`)
        const stored = Option.getOrThrow(yield* backend.getRun(first.runId))
        expect(stored.failedToolCalls).toEqual(["fail"])
        expect(stored.toolHistory).toEqual([])
        return yield* runCollectResume(backend, first.runId, [Approval.approve(first.pending[0]!)])
      }).pipe(Effect.provide(h.layer))
      expect(result.outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
      expect(toolResults(result.events).map((r) => [r.toolCallId, r.errorKind ?? "ok"])).toEqual([
        ["d1", "ok"],
        ["f2", "RuleViolation"],
        ["d2", "RuleViolation"]
      ])
      expect(h.handlers.names()).toEqual(["fail", "deploy"])
    }))

  it.live("a failed call does not move ordering rules on: after a failing parent its children stay forbidden", () =>
    Effect.gen(function* () {
      const login = failing("login", "ToolFailed", 1)
      const fetch = { tool: Tool.make("fetch", { description: "fetch", success: Schema.String }), handler: () => Effect.succeed("data") }
      const { layer } = customBackend([login, fetch], [ToolRule.parent("login", ["fetch"])], [
        S.toolCall("login", {}),
        S.toolCall("fetch", {}),
        S.toolCall("login", {}),
        S.toolCall("fetch", {}),
        S.text("done")
      ])
      const { events } = yield* runCollect("go").pipe(Effect.provide(layer))
      expect(toolResults(events).map((r) => [r.toolName, r.errorKind ?? "ok"])).toEqual([
        ["login", "ToolFailed"],
        ["fetch", "RuleViolation"],
        ["login", "ok"],
        ["fetch", "ok"]
      ])
    }))

  it.effect("a call the provider ran and reported failed does not satisfy required-before-exit (streamed or not)", () =>
    Effect.gen(function* () {
      for (const streamed of [true, false]) {
        const h = harness(
          [
            S.parts([
              LanguageModel.remoteToolCall({ id: "r1", name: "save", arguments: "{}" }),
              LanguageModel.remoteToolResult({ toolCallId: "r1", toolName: "save", content: "disk full", isError: true }),
              LanguageModel.finish("stop")
            ]),
            S.text("done?"),
            S.toolCall("save", {}),
            S.text("done")
          ],
          { agent: agent({ rules: [ToolRule.requiredBeforeExit("save")] }) }
        )
        const outcome = yield* (streamed
          ? Effect.map(runCollect("go"), (r) => r.outcome)
          : Effect.flatMap(AgentBackend.AgentBackend, (b) => b.run({ input: "go" }))
        ).pipe(Effect.provide(h.layer))
        expect(outcome).toMatchObject({ _tag: "Completed", reason: "end_turn", text: "done" })
        expect(lastUserText(h.model.requests[1]!.messages)).toContain("You must call save at least once")
        expect(h.handlers.names()).toEqual(["save"])
      }
    }))

  it.live("a stop condition on a tool does not fire when that tool's call failed", () =>
    Effect.gen(function* () {
      const finish = failing("finish", "Defect", 1)
      const { layer } = customBackend([finish], [], [S.toolCall("finish", {}), S.toolCall("finish", {})], {
        stopWhen: [Agent.StopCondition.hasToolCall("finish")]
      })
      const { outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
      expect(outcome).toMatchObject({ _tag: "Stopped", reason: "stop_condition", steps: 2 })
    }))
})

describe("rule sets that cannot work are rejected when the agent is built", () => {
  const rejected = (rules: ReadonlyArray<ToolRule.ToolRule>) =>
    Effect.gen(function* () {
      const h = harness([], { agent: agent({ rules }) })
      const error = failureOf(yield* runCollect("go").pipe(Effect.provide(h.layer), Effect.exit))
      expect(error).toBeInstanceOf(ToolRule.InvalidToolRules)
      expect(h.model.requests).toHaveLength(0)
      return error as ToolRule.InvalidToolRules
    })

  it.effect("an init tool that a parent rule allows only after its parent: both rules are named", () =>
    Effect.gen(function* () {
      const error = yield* rejected([ToolRule.parent("echo", ["add"]), ToolRule.init("add")])
      expect(error.problems.map((p) => [p.index, p.rule, p.tool])).toEqual([
        [1, "Init", "add"],
        [0, "Parent", "echo"]
      ])
      expect(error.message).toContain("can never run first")
    }))

  it.effect("a required-before-exit tool no allowed sequence reaches (mutual parents)", () =>
    Effect.gen(function* () {
      const error = yield* rejected([ToolRule.parent("save", ["finish"]), ToolRule.parent("finish", ["save"]), ToolRule.requiredBeforeExit("save")])
      expect(error.problems).toHaveLength(1)
      expect(error.problems[0]).toMatchObject({ index: 2, rule: "RequiredBeforeExit", tool: "save" })
      expect(error.problems[0]!.reason).toContain('"save" can never be called')
      expect(error.problems[0]!.reason).toContain("rule 1 (Parent finish)")
    }))

  it.effect("a tool both terminal and continue", () =>
    Effect.gen(function* () {
      const error = yield* rejected([ToolRule.terminal("finish"), ToolRule.continue("finish")])
      expect(error.problems).toMatchObject([{ index: 1, rule: "Continue", tool: "finish" }])
    }))

  it.effect("a forced cycle with no exit (child rules calling each other): each rule of the cycle is named", () =>
    Effect.gen(function* () {
      const error = yield* rejected([ToolRule.child("echo", ["add"]), ToolRule.child("add", ["echo"])])
      expect(error.problems.map((p) => [p.index, p.rule, p.tool])).toEqual([
        [0, "Child", "echo"],
        [1, "Child", "add"]
      ])
      expect(error.message).toContain("forced cycle with no exit")
    }))

  it.effect("a forced cycle entered by an init rule (a tool that must follow itself)", () =>
    Effect.gen(function* () {
      const error = yield* rejected([ToolRule.init("echo"), ToolRule.child("echo", ["echo"])])
      expect(error.problems.map((p) => p.rule).sort()).toEqual(["Child", "Init"])
    }))

  it.effect("cycles with a way out are accepted: a terminal child, a max-count, or a strict conditional", () =>
    Effect.gen(function* () {
      const accepted = [
        [ToolRule.child("echo", ["add", "finish"]), ToolRule.child("add", ["echo"]), ToolRule.terminal("finish")],
        [ToolRule.child("echo", ["add"]), ToolRule.child("add", ["echo"]), ToolRule.maxCountPerStep("add", 3)],
        [ToolRule.conditional("decide", { childOutputMapping: { again: "decide" }, requireOutputMapping: true })]
      ]
      for (const rules of accepted) {
        const h = harness([S.text("fine")], { agent: agent({ rules }) })
        const { outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
        expect(outcome).toMatchObject({ _tag: "Completed" })
      }
    }))
})

describe("handlers are bound to their toolkit", () => {
  const Shout = Tool.make("echo", { description: "Echo, agent A's way.", parameters: { text: Schema.String }, success: Schema.String })
  const Whisper = Tool.make("echo", { description: "Echo, agent B's way.", parameters: { text: Schema.String }, success: Schema.String })
  const A = Toolkit.make(Shout)
  const B = Toolkit.make(Whisper)
  const handlersA = A.toLayer({ echo: ({ text }) => Effect.succeed(`A:${text.toUpperCase()}`) })
  const handlersB = B.toLayer({ echo: ({ text }) => Effect.succeed(`B:${text.toLowerCase()}`) })
  const context = (model: ScriptedModel.ScriptedModel, ...handlers: ReadonlyArray<Layer.Layer<any>>) =>
    Layer.mergeAll(model.layerUnchecked, Approval.layerAutoApprove, RunStore.layerMemory, ...(handlers as [Layer.Layer<any>]))

  const echoResult = (runner: Loop.Runner) =>
    Effect.map(runner.run({ input: "go" }), (outcome) => outcome)

  it.effect("two agents with same-named tools in one context each reach their own handler, whatever the layer order", () =>
    Effect.gen(function* () {
      for (const order of [[handlersA, handlersB], [handlersB, handlersA]]) {
        const model = ScriptedModel.make([S.toolCall("echo", { text: "Hi" }), S.text("a"), S.toolCall("echo", { text: "Hi" }), S.text("b")])
        yield* Effect.gen(function* () {
          const runnerA = yield* Loop.makeRunner(Agent.make({ name: "a", toolkit: A }))
          const runnerB = yield* Loop.makeRunner(Agent.make({ name: "b", toolkit: B }))
          yield* echoResult(runnerA)
          yield* echoResult(runnerB)
        }).pipe(Effect.provide(context(model, ...order)))
        const toolMessage = (i: number) => model.requests[i]!.messages.find((m) => m._tag === "ToolMessage") as { content: string }
        expect(toolMessage(1).content).toBe("A:HI")
        expect(toolMessage(3).content).toBe("B:hi")
      }
    }))

  it.effect("an agent whose toolkit's own handlers are missing fails with MissingHandlers, not another toolkit's handler", () =>
    Effect.gen(function* () {
      const model = ScriptedModel.make([])
      const exit = yield* Loop.makeRunner(Agent.make({ name: "b", toolkit: B })).pipe(Effect.provide(context(model, handlersA)), Effect.exit)
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(Toolkit.MissingHandlers)
      expect(error).toMatchObject({ _tag: "MissingHandlers", tools: ["echo"] })
    }))

  it.effect("a merged toolkit is served by its parts' layers", () =>
    Effect.gen(function* () {
      const Other = Tool.make("other", { description: "other", success: Schema.String })
      const C = Toolkit.make(Other)
      const merged = Toolkit.merge(A, C)
      const model = ScriptedModel.make([S.toolCalls([{ name: "echo", args: { text: "x" } }, { name: "other" }]), S.text("ok")])
      yield* Effect.flatMap(Loop.makeRunner(Agent.make({ name: "m", toolkit: merged })), (runner) => runner.run({ input: "go" })).pipe(
        Effect.provide(context(model, handlersA, handlersB, C.toLayer({ other: () => Effect.succeed("other!") })))
      )
      const contents = model.requests[1]!.messages.filter((m) => m._tag === "ToolMessage").map((m) => (m as { content: string }).content)
      expect(contents).toEqual(["A:X", "other!"])
    }))
})

import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ScriptedModel } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { harness, runCollect, toolResults } from "./fixtures.js"

describe("Tool.make", () => {
  // Effect 4's Schema.Int carries no title/description annotations (Effect 3 rendered `title: "int", description: "an integer"`).
  it("generates an inline JSON Schema from the parameters", () => {
    const tool = Tool.make("search", {
      description: "Search documents.",
      parameters: { query: Schema.String, limit: Schema.optional(Schema.Int) }
    })
    expect(tool.definition).toEqual({
      name: "search",
      description: "Search documents.",
      parameters: {
        type: "object",
        required: ["query"],
        properties: { query: { type: "string" }, limit: { type: "integer" } },
        additionalProperties: false
      }
    })
  })

  it("rejects names providers would refuse, and a non-positive returnCharLimit", () => {
    expect(() => Tool.make("has space", { description: "x" })).toThrow(/must match/)
    expect(() => Tool.make("ok", { description: "x", returnCharLimit: 0 })).toThrow(/returnCharLimit/)
  })

  it("Toolkit.make rejects duplicate names", () => {
    const a = Tool.make("a", { description: "a" })
    expect(() => Toolkit.make(a, a)).toThrow(/listed twice/)
  })
})

describe("tool call failures become results the model sees, never a crashed run", () => {
  const scenario = (turn: ScriptedModel.Turn) =>
    Effect.gen(function* () {
      const h = harness([turn, ScriptedModel.text("ok")])
      const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(h.layer))
      expect(outcome._tag).toBe("Completed")
      const [result] = toolResults(events)
      // The model's next request carries the same text as its tool message.
      const toolMessage = h.model.requests[1]!.messages.find((m) => m._tag === "ToolMessage")
      expect(toolMessage).toMatchObject({ content: result!.content, isError: result!.isError })
      return { result: result!, handlerCalls: h.handlers.names() }
    })

  it.effect("bad JSON arguments", () =>
    Effect.gen(function* () {
      const { result, handlerCalls } = yield* scenario(ScriptedModel.toolCall("echo", "{not json"))
      expect(result).toMatchObject({ isError: true, errorKind: "InvalidArguments" })
      expect(result.content).toMatch(/Invalid arguments for tool "echo": not valid JSON/)
      expect(handlerCalls).toEqual([])
    }))

  it.effect("arguments that do not match the schema name the field", () =>
    Effect.gen(function* () {
      const { result, handlerCalls } = yield* scenario(ScriptedModel.toolCall("add", { a: 1, b: "two" }))
      expect(result.errorKind).toBe("InvalidArguments")
      expect(result.content).toContain('["b"]')
      expect(result.content).toContain("Expected number")
      expect(handlerCalls).toEqual([])
    }))

  // Valid arguments are decoded with Schema's default options (its fast path); only invalid ones are decoded
  // again with `errors: "all"`, so the model still hears of every field it got wrong.
  it.effect("arguments with several wrong fields name every one of them", () =>
    Effect.gen(function* () {
      const { result, handlerCalls } = yield* scenario(ScriptedModel.toolCall("add", { a: "one", b: "two" }))
      expect(result.errorKind).toBe("InvalidArguments")
      expect(result.content).toContain('["a"]')
      expect(result.content).toContain('["b"]')
      expect(handlerCalls).toEqual([])
    }))

  it.effect("unknown argument keys are dropped, not refused", () =>
    Effect.gen(function* () {
      const { result, handlerCalls } = yield* scenario(ScriptedModel.toolCall("add", { a: 1, b: 2, c: 3 }))
      expect(result).toMatchObject({ isError: false, content: "3" })
      expect(handlerCalls).toEqual(["add"])
    }))

  it.effect("an unknown tool lists the available ones", () =>
    Effect.gen(function* () {
      const { result } = yield* scenario(ScriptedModel.toolCall("nope", {}))
      expect(result.errorKind).toBe("UnknownTool")
      expect(result.content).toMatch(/^Unknown tool "nope"\. Available tools: echo, add, decide/)
    }))

  it.effect("a handler's typed failure is encoded for the model", () =>
    Effect.gen(function* () {
      const { result, handlerCalls } = yield* scenario(ScriptedModel.toolCall("fail", {}))
      expect(result).toMatchObject({ isError: true, errorKind: "ToolFailed", content: '{"error":{"code":"E_BROKEN"}}' })
      expect(handlerCalls).toEqual(["fail"])
    }))

  const custom = <A>(tool: Tool.Any, handler: Tool.AnyHandlerFn, turns: ReadonlyArray<ScriptedModel.Turn>, check: (r: ReturnType<typeof toolResults>) => A) =>
    Effect.gen(function* () {
      const toolkit = Toolkit.make(tool)
      const model = ScriptedModel.make(turns)
      const layer = AgentBackend.layerLocal(Agent.make({ name: "custom", toolkit })).pipe(
        Layer.provide(
          Layer.mergeAll(model.layer, toolkit.toLayer({ [tool.name]: handler } as never), Approval.layerAutoApprove, RunStore.layerMemory)
        )
      )
      const { events, outcome } = yield* runCollect("go").pipe(Effect.provide(layer))
      expect(outcome._tag).toBe("Completed")
      return check(toolResults(events))
    })

  it.effect("a defect (thrown error) becomes an error result", () =>
    custom(
      Tool.make("boom", { description: "throws" }),
      () => Effect.die(new Error("kaboom")),
      [ScriptedModel.toolCall("boom", {}), ScriptedModel.text("ok")],
      ([r]) => expect(r).toMatchObject({ errorKind: "Defect", content: 'Tool "boom" failed unexpectedly: kaboom' })
    ))

  it.effect("a handler that throws instead of returning an Effect is a defect of that call, not of the run", () =>
    custom(
      Tool.make("thrower", { description: "throws before returning an Effect" }),
      () => {
        throw new Error("not even an Effect")
      },
      [ScriptedModel.toolCall("thrower", {}), ScriptedModel.text("ok")],
      ([r]) => expect(r).toMatchObject({ errorKind: "Defect", content: 'Tool "thrower" failed unexpectedly: not even an Effect' })
    ))

  it.effect("a timeout cancels the handler and tells the model", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(
        custom(
          Tool.make("slow", { description: "slow", timeout: "1 second" }),
          () => Effect.sleep("1 hour"),
          [ScriptedModel.toolCall("slow", {}), ScriptedModel.text("ok")],
          ([r]) => expect(r).toMatchObject({ errorKind: "Timeout", content: 'Tool "slow" timed out and was cancelled.' })
        )
      )
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
    }))

  it.effect("returnCharLimit truncates what the model sees", () =>
    custom(
      Tool.make("big", { description: "big", success: Schema.String, returnCharLimit: 10 }),
      () => Effect.succeed("x".repeat(25)),
      [ScriptedModel.toolCall("big", {}), ScriptedModel.text("ok")],
      ([r]) => expect(r!.content).toBe(`${"x".repeat(10)}\n[truncated: 15 more characters]`)
    ))

  it.effect("a result that does not match the success schema is an error result", () =>
    custom(
      Tool.make("liar", { description: "returns the wrong type", success: Schema.Number }),
      () => Effect.succeed("not a number"),
      [ScriptedModel.toolCall("liar", {}), ScriptedModel.text("ok")],
      ([r]) => expect(r).toMatchObject({ errorKind: "InvalidResult" })
    ))

  it("toLayer fails clearly when a handler is missing", async () => {
    const a = Tool.make("a", { description: "a" })
    const toolkit = Toolkit.make(a)
    const exit = await Effect.runPromiseExit(Layer.build(toolkit.toLayer({} as never)).pipe(Effect.scoped))
    expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toContain('no handler for tool "a"')
  })
})

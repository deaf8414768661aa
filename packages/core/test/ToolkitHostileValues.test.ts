/**
 * Values a hostile (or buggy) tool can hand the toolkit: results nested too deeply to write as JSON, circular
 * ones, and tool names that are also `Object.prototype` members. Each is a typed result of that call only.
 */
import { DynamicTool, Tool, Toolkit } from "@agentloop/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

const nested = (depth: number): unknown => {
  const root: Record<string, unknown> = {}
  let node = root
  for (let i = 0; i < depth; i++) {
    const child: Record<string, unknown> = {}
    node["a"] = child
    node = child
  }
  return root
}

const context = { runId: "r", toolCallId: "c", idempotencyKey: "k" }

describe("Toolkit.execute with results that cannot be written as JSON", () => {
  it.effect("a result nested 10,000 deep is an InvalidResult error result (no RangeError), and the next call runs", () =>
    Effect.gen(function* () {
      const deep = DynamicTool.make("deep", { description: "x", parameters: { type: "object" } })
      const fails = DynamicTool.make("fails", { description: "x", parameters: { type: "object" } })
      const toolkit = Toolkit.make(deep, fails)
      const resolved = yield* Toolkit.resolve(toolkit).pipe(
        Effect.provide(
          toolkit.toLayer({
            deep: (args) => Effect.succeed(args["depth"] === 0 ? { ok: true } : nested(10_000)),
            fails: () => Effect.fail(nested(10_000))
          })
        )
      )
      const execution = yield* Toolkit.execute(resolved, { name: "deep", args: { depth: 10_000 } }, context)
      expect(execution).toMatchObject({ isError: true, errorKind: "InvalidResult" })
      expect(execution.content).toBe('Tool "deep" returned a result that cannot be written as JSON: it is nested too deeply')
      // The error result itself is small and plain: events and stored runs can hold it.
      expect(JSON.stringify(execution.value).length).toBeLessThan(200)
      const failure = yield* Toolkit.execute(resolved, { name: "fails", args: {} }, context)
      expect(failure).toMatchObject({ isError: true, errorKind: "InvalidResult" })
      expect(yield* Toolkit.execute(resolved, { name: "deep", args: { depth: 0 } }, context)).toMatchObject({ isError: false, content: '{"ok":true}' })
    })
  )

  it.effect("a circular result is an InvalidResult error result naming why", () =>
    Effect.gen(function* () {
      const loop = Tool.make("loop", { description: "x", success: Schema.Unknown })
      const toolkit = Toolkit.make(loop)
      const circular: Record<string, unknown> = {}
      circular["self"] = circular
      const resolved = yield* Toolkit.resolve(toolkit).pipe(Effect.provide(toolkit.toLayer({ loop: () => Effect.succeed(circular) })))
      const execution = yield* Toolkit.execute(resolved, { name: "loop", args: {} }, context)
      expect(execution).toMatchObject({ isError: true, errorKind: "InvalidResult" })
      expect(execution.content).toContain("circular")
    })
  )
})

describe("Toolkit.make with tool names that are Object.prototype members", () => {
  it.effect("toString, constructor, valueOf, hasOwnProperty and __proto__ are tools like any other", () =>
    Effect.gen(function* () {
      const names = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"] as const
      const tools = names.map((name) => DynamicTool.make(name, { description: name, parameters: { type: "object" } }))
      const toolkit = Toolkit.make(...tools)
      expect(toolkit.names).toEqual([...names])
      for (const name of names) expect(toolkit.tools[name]?.name).toBe(name)
      const handlers = Object.fromEntries(names.map((name) => [name, () => Effect.succeed(`ran ${name}`)]))
      const resolved = yield* Toolkit.resolve(toolkit).pipe(Effect.provide(toolkit.toLayer(handlers)))
      for (const name of names) {
        expect(yield* Toolkit.execute(resolved, { name, args: {} }, context)).toMatchObject({ isError: false, content: `ran ${name}` })
      }
      // A toolkit without them does not find them on its prototype.
      const plain = Toolkit.make(DynamicTool.make("other", { description: "x", parameters: { type: "object" } }))
      expect(plain.tools["toString"]).toBeUndefined()
      expect(() => Toolkit.make(tools[0]!, tools[0]!)).toThrow(/listed twice/)
    })
  )
})

import { DynamicTool, Toolkit } from "@agentloop/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

describe("DynamicTool.make", () => {
  const parameters = { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] }
  const weather = DynamicTool.make("weather", { description: "Forecast.", parameters, requiresApproval: (args) => args["days"] === 30 })

  it("offers the JSON Schema unchanged", () => {
    expect(weather.definition).toEqual({ name: "weather", description: "Forecast.", parameters })
  })

  it.effect("hands every argument to the handler as sent, and any JSON back", () =>
    Effect.gen(function* () {
      const toolkit = Toolkit.make(weather)
      const seen: Array<unknown> = []
      const resolved = yield* Toolkit.resolve(toolkit).pipe(
        Effect.provide(toolkit.toLayer({ weather: (args) => Effect.sync(() => (seen.push(args), { ok: [1, 2] })) }))
      )
      const execution = yield* Toolkit.execute(resolved, { name: "weather", args: { city: "Oslo", extra: { nested: true } } }, {
        runId: "r",
        toolCallId: "c",
        idempotencyKey: "k"
      })
      expect(seen).toEqual([{ city: "Oslo", extra: { nested: true } }])
      expect(execution).toMatchObject({ isError: false, content: '{"ok":[1,2]}' })
      expect(weather.requiresApproval).toBeTypeOf("function")
    })
  )

  it("rejects names providers would refuse", () => {
    expect(() => DynamicTool.make("a.b", { description: "x", parameters: {} })).toThrow(/must match/)
  })
})

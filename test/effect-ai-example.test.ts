/** examples/effect-ai-model.ts runs offline and does what its docs say. */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { main } from "../examples/effect-ai-model.js"

describe("effect-ai-model example", () => {
  it("an effect/ai LanguageModel layer runs the agent: forecast, approved booking, streamed answer", async () => {
    const { outcome, deltas, approvals } = await Effect.runPromise(main())
    expect(outcome).toMatchObject({
      _tag: "Completed",
      text: "Saturday looks sunny, 24°C: booked for Lisbon on Saturday.",
      steps: 3,
      usage: { inputTokens: 120, outputTokens: 36, totalTokens: 156 }
    })
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join("")).toBe("Saturday looks sunny, 24°C: booked for Lisbon on Saturday.")
    expect(approvals).toEqual(["book_trip"])
  })

  it("runs as a script with tsx", () => {
    const root = fileURLToPath(new URL("..", import.meta.url))
    const output = execFileSync("pnpm", ["exec", "tsx", "--conditions=@agentloop/source", "examples/effect-ai-model.ts"], { cwd: root, encoding: "utf8" })
    expect(output).toContain("approvals asked: book_trip")
    expect(output).toContain("Saturday looks sunny")
  }, 60_000)
})

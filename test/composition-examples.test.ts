/** The composition examples in examples/ run offline and do what their docs say. */
import { Effect } from "effect"
import { describe, expect, it, vi } from "vitest"
import { main as handoffTriage } from "../examples/handoff-triage.js"
import { main as research } from "../examples/research-agent.js"
import { main as tokenBudget } from "../examples/token-budget.js"
import { main as tracing } from "../examples/tracing-console.js"
import { finalAnswerTool, main as typedOutput } from "../examples/typed-output.js"

describe("composition examples", () => {
  it("typed-output: the second answer fits the schema and comes back typed", async () => {
    expect(await Effect.runPromise(typedOutput())).toEqual({ severity: "high", service: "billing", summary: "5xx on invoices since 10:02" })
  })

  it("typed-output: through the final-answer tool, the second call fits the schema and comes back typed", async () => {
    expect(await Effect.runPromise(finalAnswerTool())).toEqual({ severity: "critical", service: "billing", summary: "every invoice fails" })
  })

  it("research-agent: the sub-agent's deploy is approved through the research run and runs once", async () => {
    const ran: Array<string> = []
    const outcome = await Effect.runPromise(research(ran))
    expect(outcome).toMatchObject({ _tag: "Completed", text: "2.0 looks good and is deployed." })
    expect(ran).toEqual(["search:2.0", "deploy:2.0"])
  })

  it("handoff-triage: triage hands off to billing, the refund is approved while billing speaks, billing hands back", async () => {
    const ran: Array<string> = []
    const { lines, outcome } = await Effect.runPromise(handoffTriage(ran))
    expect(outcome).toMatchObject({ _tag: "Completed", text: "Your refund of $30 is on its way. Anything else?" })
    expect(ran).toEqual(["lookup:42", "refund:42:30"])
    expect(lines.filter((line) => line.startsWith("handoff:"))).toEqual(["handoff: triage -> billing (transfer_to_billing)", "handoff: billing -> triage (transfer_to_triage)"])
    expect(lines.filter((line) => line.startsWith("step ") && line.includes("["))).toEqual([
      expect.stringMatching(/^step 1 \[triage\]/),
      expect.stringMatching(/^step 2 \[triage\]/),
      expect.stringMatching(/^step 3 \[billing\]/),
      expect.stringMatching(/^step 4 \[billing\]/),
      expect.stringMatching(/^step 5 \[triage\]/)
    ])
    expect(lines).toContain("  approval requested for refund (call_refund)")
  })

  it("token-budget: the model sees a budget's worth of the newest messages, the state keeps all of them", async () => {
    const result = await Effect.runPromise(tokenBudget(500))
    expect(result.outcome._tag).toBe("Completed")
    expect(result.sentTokens).toBeLessThanOrEqual(500)
    expect(result.sentMessages).toBeLessThan(100)
    expect(result.firstSent).toMatchObject({ _tag: "SystemMessage" })
    expect(result.storedMessages).toBe(1 + 400 + 1 + 1)
  })

  it("tracing-console: prints the invoke_agent, chat and execute_tool spans with the console exporter", async () => {
    // The console exporter prints each span with console.dir: capture what it prints.
    const printed: Array<{ name: string; parentSpanContext?: { spanId: string }; id: string; attributes: Record<string, unknown> }> = []
    const spy = vi.spyOn(console, "dir").mockImplementation((value) => void printed.push(value as never))
    try {
      const outcome = await Effect.runPromise(tracing())
      expect(outcome._tag).toBe("Completed")
    } finally {
      spy.mockRestore()
    }
    const byName = new Map(printed.map((span) => [span.name, span]))
    for (const name of ["invoke_agent orders", "chat claude-4-sonnet", "execute_tool lookup_order", "handle request"]) expect(byName.has(name)).toBe(true)
    expect(byName.get("execute_tool lookup_order")?.parentSpanContext?.spanId).toBe(byName.get("invoke_agent orders")?.id)
    expect(byName.get("execute_tool lookup_order")?.attributes["gen_ai.tool.name"]).toBe("lookup_order")
  })
})

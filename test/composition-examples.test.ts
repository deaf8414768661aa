/** The composition examples in examples/ run offline and do what their docs say. */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { main as research } from "../examples/research-agent.js"
import { main as tokenBudget } from "../examples/token-budget.js"
import { main as typedOutput } from "../examples/typed-output.js"

const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx")

describe("composition examples", () => {
  it("typed-output: the second answer fits the schema and comes back typed", async () => {
    expect(await Effect.runPromise(typedOutput())).toEqual({ severity: "high", service: "billing", summary: "5xx on invoices since 10:02" })
  })

  it("research-agent: the sub-agent's deploy is approved through the research run and runs once", async () => {
    const ran: Array<string> = []
    const outcome = await Effect.runPromise(research(ran))
    expect(outcome).toMatchObject({ _tag: "Completed", text: "2.0 looks good and is deployed." })
    expect(ran).toEqual(["search:2.0", "deploy:2.0"])
  })

  it("token-budget: the model sees a budget's worth of the newest messages, the state keeps all of them", async () => {
    const result = await Effect.runPromise(tokenBudget(500))
    expect(result.outcome._tag).toBe("Completed")
    expect(result.sentTokens).toBeLessThanOrEqual(500)
    expect(result.sentMessages).toBeLessThan(100)
    expect(result.firstSent).toMatchObject({ _tag: "SystemMessage" })
    expect(result.storedMessages).toBe(1 + 400 + 1 + 1)
  })

  it("tracing-console: prints the invoke_agent, chat and execute_tool spans (run as its own process)", async () => {
    const { stdout } = await promisify(execFile)(tsx, [join(import.meta.dirname, "..", "examples", "tracing-console.ts")], { encoding: "utf8", timeout: 90_000 })
    for (const name of ["invoke_agent orders", "chat claude-4-sonnet", "execute_tool lookup_order", "handle request"]) {
      expect(stdout).toContain(`name: '${name}'`)
    }
    expect(stdout).toContain("'gen_ai.tool.call.id'")
    expect(stdout).toContain("outcome: Completed")
  }, 120_000)
})

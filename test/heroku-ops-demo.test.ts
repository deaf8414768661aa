/** Acceptance: the Heroku ops agent (`pnpm demo`) runs offline against the fake and fixes the crashed app. */
import { Effect } from "effect"
import { expect, it } from "vitest"
import { runDemo } from "../examples/heroku-ops-agent.js"

it("the ops agent inspects, reads logs, restarts with approval, and the audit log records it", async () => {
  const lines: Array<string> = []
  const result = await Effect.runPromise(runDemo((line) => lines.push(line)))
  expect(result.outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
  const outcomes = result.audit.filter((e) => e.kind === "outcome")
  expect(outcomes.map((e) => [e.tool, e.decision, e.outcome])).toEqual([
    ["heroku_apps_info", "allowed", "success"],
    ["heroku_dynos_list", "allowed", "success"],
    ["heroku_logs_read", "allowed", "success"],
    ["heroku_dynos_restart_all", "approved", "success"],
    ["heroku_dynos_list", "allowed", "success"]
  ])
  // Every call has its intent entry first, with the run and the agent.
  expect(result.audit.map((e) => e.kind)).toEqual(outcomes.flatMap(() => ["intent", "outcome"]))
  expect(result.audit.every((e) => e.runId === "ops-1" && e.agent === "heroku-ops")).toBe(true)
  expect(outcomes[3]!.by).toBe("oncall@example.com")
  expect(lines.join("\n")).toContain("[outcome] run ops-1 agent heroku-ops heroku_dynos_restart_all on shop-api: approved by oncall@example.com -> success")
  expect(lines.join("\n")).toContain('"state":"up"')
  expect(lines.join("\n")).toContain("approval requested for heroku_dynos_restart_all")
})

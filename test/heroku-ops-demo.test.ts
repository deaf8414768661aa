/** Acceptance: the Heroku ops agent (`pnpm demo`) runs offline against the fake and fixes the crashed app. */
import { Effect } from "effect"
import { expect, it } from "vitest"
import { runDemo } from "../examples/heroku-ops-agent.js"

it("the ops agent inspects, reads logs, restarts with approval, and the audit log records it", async () => {
  const lines: Array<string> = []
  const result = await Effect.runPromise(runDemo((line) => lines.push(line)))
  expect(result.outcome).toMatchObject({ _tag: "Completed", reason: "end_turn" })
  expect(result.audit.map((e) => [e.tool, e.decision, e.outcome])).toEqual([
    ["heroku_apps_info", "allowed", "success"],
    ["heroku_dynos_list", "allowed", "success"],
    ["heroku_logs_read", "allowed", "success"],
    ["heroku_dynos_restart_all", "approved", "success"],
    ["heroku_dynos_list", "allowed", "success"]
  ])
  expect(result.audit[3]!.by).toBe("oncall@example.com")
  expect(lines.join("\n")).toContain('"state":"up"')
  expect(lines.join("\n")).toContain("approval requested for heroku_dynos_restart_all")
})

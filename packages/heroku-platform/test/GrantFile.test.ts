import { Grant, HerokuTools, Operations } from "@agentloop/heroku-platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

describe("Grant.fromJson (grant files)", () => {
  it.effect("reads access levels, apps, secrets, risks and per-tool approvals", () =>
    Effect.gen(function* () {
      const grant = yield* Grant.fromJson(
        JSON.stringify({ agent: "ops", access: { apps: "read", dynos: "full" }, apps: ["shop-api"], approvalFor: ["destructive"], approvalForTools: ["heroku_apps_info"] })
      )
      expect(grant).toMatchObject({ agent: "ops", access: { apps: "read", dynos: "full" }, apps: ["shop-api"], secrets: false, approvalFor: ["destructive"] })
      const gated = Object.values(HerokuTools.toolkit(grant).tools).filter((t) => t.requiresApproval === true).map((t) => t.name)
      // A read named in approvalForTools, beside the dyno tools that change what runs (always gated).
      expect(gated).toEqual([
        "heroku_apps_info",
        "heroku_dynos_run",
        "heroku_dynos_restart",
        "heroku_dynos_restart_all",
        "heroku_dynos_stop",
        "heroku_dynos_restart_type",
        "heroku_dynos_stop_type"
      ])
    })
  )

  it.effect("rejects unknown groups, levels and fields, naming them", () =>
    Effect.gen(function* () {
      const badLevel = yield* Effect.flip(Grant.fromJson(JSON.stringify({ access: { apps: "admin" } }), "ops.json"))
      expect(badLevel._tag).toBe("InvalidGrantFile")
      expect(badLevel.message).toContain("ops.json")
      expect(badLevel.reason).toContain("apps")
      const badField = yield* Effect.flip(Grant.fromJson(JSON.stringify({ access: {}, approve: ["x"] })))
      expect(badField.reason).toContain("approve")
      const badGroup = yield* Effect.flip(Grant.fromJson(JSON.stringify({ access: { dynamos: "read" } })))
      expect(badGroup.reason).toContain("dynamos")
      const notJson = yield* Effect.flip(Grant.fromJson("{"))
      expect(notJson.reason).toContain("not JSON")
    })
  )
})

describe("HerokuTools.annotations", () => {
  it("derives MCP hints from each operation's access, risks and method", () => {
    expect(HerokuTools.annotations("heroku_apps_list")).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true })
    expect(HerokuTools.annotations("heroku_apps_delete")).toMatchObject({ readOnlyHint: false, destructiveHint: true })
    expect(HerokuTools.annotations("heroku_dynos_restart_all")).toMatchObject({ readOnlyHint: false, destructiveHint: true })
    expect(HerokuTools.annotations("heroku_config_vars_info")).toMatchObject({ readOnlyHint: true, destructiveHint: false })
    expect(HerokuTools.annotations("nope")).toBeUndefined()
    for (const operation of Operations.operations) expect(HerokuTools.annotations(operation.tool)).toBeDefined()
  })
})

/**
 * The tool set and the fake against Heroku's current hyper-schema (heroku-go v6, 2025): every operation is
 * one of its links, every request body a tool sends is one its link accepts, every answer of the fake
 * matches the link's target schema. The walk over every tool is in `HerokuTools.test.ts` ("... each changing
 * or reading the fake's state"), which ends by checking its whole conversation here.
 */
import { Operations } from "@agentloop/heroku-platform"
import { describe, expect, it } from "vitest"
import * as HyperSchema from "./hyperSchema.js"

const root = HyperSchema.load()
const all = HyperSchema.links(root)
const bodyOf = (operation: Operations.Operation, params: Operations.Params) => operation.body!(params, {})
const link = (resource: string, title: string) => all.find((l) => l.resource === resource && l.title === title)!

describe("the current hyper-schema", () => {
  it("every operation is a link of the schema: its method, and its path segment for segment", () => {
    // The model catalog is Managed Inference's own host, not the Platform API.
    for (const operation of Operations.operations.filter((o) => o.api !== "inference")) {
      const path = operation.template.replace(/\{\w+\}/g, "x")
      expect(HyperSchema.linksFor(all, operation.method, path).length, `${operation.method} ${operation.template}`).toBeGreaterThan(0)
    }
  })

  it("the validator catches what it must: the deprecated formation size, a missing required field, a wrong type, a field the schema does not name", () => {
    const batch = link("formation", "Batch Update").schema!
    expect(HyperSchema.validate(root, batch, { updates: [{ type: "web", quantity: 2, dyno_size: { name: "Standard-1X" } }] })).toEqual([])
    expect(HyperSchema.validate(root, batch, { updates: [{ type: "web", size: "Standard-1X" }] })).toEqual([{ at: "$.updates[0].size", problem: "not a property the schema names" }])
    expect(HyperSchema.validate(root, batch, { updates: [{ quantity: 1 }] })).toEqual([{ at: "$.updates[0]", problem: "missing required type" }])
    const update = link("formation", "Update").schema!
    expect(HyperSchema.validate(root, update, { quantity: "2" })).toEqual([{ at: "$.quantity", problem: "expected integer, got string" }])
    expect(HyperSchema.validate(root, update, { quantity: 2, size: "Basic" }, { strict: true })).toEqual([{ at: "$.size", problem: "not a property the schema names" }])
    expect(HyperSchema.validate(root, link("log-session", "Create").schema!, { dyno: "web.1" }, { strict: true })).toHaveLength(1)
    expect(HyperSchema.validate(root, link("release", "Rollback").schema!, { release: "v3" })).toEqual([{ at: "$.release", problem: "not a uuid" }])
    // The add-on answer's required fields (actions, billing_entity, provider_id ...).
    const addon = link("add-on", "Create").targetSchema!
    expect(HyperSchema.validate(root, addon, { id: "x" }).map((p) => p.problem)).toContain("missing required billing_entity")
  })

  it("the formation bodies the tools send use dyno_size ({ name } or { id }), never the deprecated size", () => {
    const update = Operations.byTool.get("heroku_formation_update")!
    const batch = Operations.byTool.get("heroku_formation_batch_update")!
    const id = "d0000000-0000-4000-8000-000000000003"
    expect(bodyOf(update, { app: "a", type: "web", quantity: 2, size: "Standard-1X" })).toEqual({ quantity: 2, dyno_size: { name: "Standard-1X" } })
    expect(bodyOf(update, { app: "a", type: "web", size: id })).toEqual({ dyno_size: { id } })
    expect(bodyOf(batch, { app: "a", updates: [{ type: "web", size: "Basic" }, { type: "worker", quantity: 0 }] })).toEqual({
      updates: [{ type: "web", dyno_size: { name: "Basic" } }, { type: "worker", quantity: 0 }]
    })
    for (const body of [bodyOf(update, { type: "web", size: id, quantity: 1 }), bodyOf(batch, { updates: [{ type: "web", size: "Basic" }] })]) {
      const schema = body && "updates" in (body as object) ? batch : update
      const target = schema === batch ? link("formation", "Batch Update") : link("formation", "Update")
      expect(HyperSchema.validate(root, target.schema!, body, { strict: true })).toEqual([])
    }
  })

  it("the bodies of the tools added to match Heroku's MCP server: a team-owned pipeline, an app setup from an uploaded source, a build from one", () => {
    const pipeline = bodyOf(Operations.byTool.get("heroku_pipelines_create")!, { name: "shop", teamId: "01234567-89ab-cdef-0123-456789abcdef" })
    expect(pipeline).toEqual({ name: "shop", owner: { id: "01234567-89ab-cdef-0123-456789abcdef", type: "team" } })
    expect(HyperSchema.validate(root, link("pipeline", "Create").schema!, pipeline, { strict: true })).toEqual([])
    const setup = bodyOf(Operations.byTool.get("heroku_app_setups_create")!, { name: "gamma-app", team: "acme", space: "acme-space", env: { A: "1" }, url: "https://example.com/s.tgz" })
    expect(setup).toEqual({ source_blob: { url: "https://example.com/s.tgz" }, app: { name: "gamma-app", organization: "acme", space: "acme-space" }, overrides: { env: { A: "1" } } })
    expect(HyperSchema.validate(root, link("app-setup", "Create").schema!, setup, { strict: true })).toEqual([])
    const build = bodyOf(Operations.byTool.get("heroku_builds_create_from_files")!, { app: "a", url: "https://example.com/s.tgz", version: "v2" })
    expect(HyperSchema.validate(root, link("build", "Create").schema!, build, { strict: true })).toEqual([])
    // A wrong owner type is caught: the schema's pattern is team or user.
    expect(HyperSchema.validate(root, link("pipeline", "Create").schema!, { name: "x", owner: { id: "01234567-89ab-cdef-0123-456789abcdef", type: "org" } })).not.toEqual([])
  })

  it("log sessions filter by dyno_name (a dyno) or type (a process type), as the version=3 schema names them", () => {
    const logs = Operations.byTool.get("heroku_logs_read")!
    expect(bodyOf(logs, { app: "a", dyno: "web.1" })).toEqual({ lines: 100, dyno_name: "web.1", tail: false })
    expect(bodyOf(logs, { app: "a", dyno: "web-1234abcde-123ab" })).toMatchObject({ dyno_name: "web-1234abcde-123ab" })
    expect(bodyOf(logs, { app: "a", dyno: "router", source: "heroku", lines: 5 })).toEqual({ lines: 5, type: "router", source: "heroku", tail: false })
  })
})

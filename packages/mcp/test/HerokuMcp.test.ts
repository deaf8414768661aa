/**
 * Acceptance: `pnpm heroku-mcp` (the Heroku tool set as an MCP server, on the in-process fake Heroku) driven
 * by the MCP Inspector CLI over stdio, and by the official SDK client over Streamable HTTP with elicitation.
 * Grants, approvals, redaction and the audit log apply.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Approval, Toolkit } from "@agentloop/core"
import { AuditLog, Grant, HerokuTools } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { Mcp, McpElicitation } from "@agentloop/mcp"
import { Effect, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { sdkHttpClient } from "./support.js"
import { defaultGrantFile, serveHeroku } from "../../../examples/heroku-mcp.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const tsx = join(root, "node_modules/.bin/tsx")
const script = join(root, "examples/heroku-mcp.ts")
const inspectorCli = join(
  dirname(createRequire(join(root, "packages/mcp/package.json")).resolve("@modelcontextprotocol/inspector-cli/package.json")),
  "build/cli.js"
)
const PLANTED = "pl4nted-s3cret"
const grant = Effect.runSync(Grant.fromJson(readFileSync(defaultGrantFile, "utf8")))

/** Runs the Inspector CLI once (asynchronously); killed if the test ends first. */
const inspector = (args: ReadonlyArray<string>, audit: string): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const { HEROKU_API_KEY: _, ...env } = process.env
    // inspector-cli 1.0.3 reads its own package.json relative to the working directory: run it from its build dir.
    const child = spawn(process.execPath, [inspectorCli, "--cli", "-e", `HEROKU_MCP_AUDIT=${audit}`, tsx, script, ...args], {
      cwd: dirname(inspectorCli),
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`inspector exited with ${code}: ${stderr}\n${stdout}`))
      try {
        resolve(JSON.parse(stdout.slice(stdout.indexOf("{"))))
      } catch (error) {
        reject(new Error(`inspector printed no JSON: ${stdout}\n${stderr}`))
      }
    })
  })

const auditLines = (file: string): Array<AuditLog.Entry> =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l)) : []

describe("pnpm heroku-mcp with the MCP Inspector CLI (stdio, fake Heroku)", () => {
  it("lists exactly the granted tools, with safety annotations from each operation's risks", async () => {
    const audit = join(mkdtempSync(join(tmpdir(), "heroku-mcp-")), "audit.jsonl")
    const listed = (await inspector(["--method", "tools/list"], audit)) as { tools: Array<{ name: string; annotations?: Record<string, boolean> }> }
    // The example's grant gives the `postgres` group Read: its Postgres tools are served next to the Platform's.
    expect(listed.tools.map((t) => t.name)).toEqual([...HerokuTools.toolkit(grant).names, ...Postgres.toolkit(grant).names])
    expect(listed.tools.map((t) => t.name)).toContain("heroku_pg_info")
    expect(listed.tools.map((t) => t.name)).not.toContain("heroku_pg_kill")
    expect(listed.tools.map((t) => t.name)).not.toContain("heroku_apps_delete")
    const byName = Object.fromEntries(listed.tools.map((t) => [t.name, t.annotations]))
    expect(byName["heroku_apps_info"]).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true })
    // Restarting every dyno briefly takes the app offline: always gated, so destructive in MCP's sense.
    // Every restart call restarts again: not idempotent, though Heroku models it as a DELETE.
    expect(byName["heroku_dynos_restart_all"]).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: false })
    expect(byName["heroku_pg_psql"]).toMatchObject({ readOnlyHint: true, destructiveHint: false })
  }, 120_000)

  it("calls tools: a granted read succeeds, an app outside the grant is denied, a gated call is refused; all audited", async () => {
    const audit = join(mkdtempSync(join(tmpdir(), "heroku-mcp-")), "audit.jsonl")
    const call = (tool: string, ...toolArgs: Array<string>) =>
      inspector(["--method", "tools/call", "--tool-name", tool, "--tool-arg", ...toolArgs], audit) as Promise<{
        content: Array<{ text: string }>
        isError?: boolean
      }>
    // One after another: each call starts an inspector and a server process; together they would load the
    // machine for the rest of the suite.
    const info = await call("heroku_apps_info", "app=shop-api")
    const outside = await call("heroku_apps_info", "app=other-team-app")
    const gated = await call("heroku_dynos_restart_all", "app=shop-api")
    expect(JSON.parse(info.content[0]!.text)).toMatchObject({ name: "shop-api" })
    expect(outside.isError).toBe(true)
    expect(outside.content[0]!.text).toContain("GrantDenied")
    expect(gated.isError).toBe(true)
    expect(gated.content[0]!.text).toContain("refused")
    const entries = auditLines(audit).map((e) => [e.tool, e.app, e.decision, e.outcome, e.by])
    // A call that runs writes an intent entry before the request and an outcome entry after it.
    expect(entries).toEqual([
      ["heroku_apps_info", "shop-api", "allowed", "pending", undefined],
      ["heroku_apps_info", "shop-api", "allowed", "success", undefined],
      ["heroku_apps_info", "other-team-app", "refused", "not_run", "grant"],
      ["heroku_dynos_restart_all", "shop-api", "denied", "not_run", "mcp-server"]
    ])
  }, 120_000)
})

/** Runs `body` against heroku-mcp over Streamable HTTP (in process, bearer `token`); the audit entries written. */
const auditedHttp = async (token: string, body: (url: string) => Effect.Effect<void, unknown, Scope.Scope>) => {
  const entries: Array<AuditLog.Entry> = []
  await Effect.runPromise(
    Effect.scoped(Effect.flatMap(serveHeroku({ grant, transport: { http: { token } }, audit: (entry) => entries.push(entry) }), (handle) => body(handle.url!)))
  )
  return entries
}

describe("heroku-mcp over Streamable HTTP with the official SDK client", () => {
  it("asks the human through elicitation; approved and declined calls are audited; secrets stay redacted", async () => {
    const outputs: Array<string> = []
    const token = "heroku-mcp-test-token-0123456789"
    const entries = await auditedHttp(token, (url) =>
      Effect.gen(function* () {
        let approve = true
        const { call } = yield* sdkHttpClient(url, token, { name: "ops-console", answer: () => ({ approve, reason: "incident 42" }), outputs })
        const restarted = yield* call("heroku_dynos_restart_all", { app: "shop-api" })
        expect(restarted.isError).toBe(false)
        const vars = yield* call("heroku_config_vars_info", { app: "billing" })
        expect(JSON.parse(vars.text)).toEqual({ DATABASE_URL: "[REDACTED]" })
        approve = false
        const declined = yield* call("heroku_dynos_restart_all", { app: "billing" })
        expect(declined).toMatchObject({ isError: true })
        // Refused before any handler ran: the server reports it to the audit log's observer like the loop does.
        const invalid = yield* call("heroku_apps_info", { app: 42 })
        expect(invalid.isError).toBe(true)
      })
    )
    expect(entries.map((e) => [e.tool, e.app, e.kind, e.decision, e.outcome, e.by, e.reason])).toEqual([
      ["heroku_dynos_restart_all", "shop-api", "intent", "approved", "pending", "ops-console", "incident 42"],
      ["heroku_dynos_restart_all", "shop-api", "outcome", "approved", "success", "ops-console", "incident 42"],
      ["heroku_config_vars_info", "billing", "intent", "approved", "pending", "ops-console", "incident 42"],
      ["heroku_config_vars_info", "billing", "outcome", "approved", "success", "ops-console", "incident 42"],
      ["heroku_dynos_restart_all", "billing", "refusal", "denied", "not_run", "ops-console", "the client's user declined the call"],
      ["heroku_apps_info", undefined, "refusal", "refused", "not_run", "schema", "the arguments do not match the tool's Schema"]
    ])
    for (const text of [...outputs, ...entries.map((e) => JSON.stringify(e))]) expect(text).not.toContain(PLANTED)
  })

  it("our client answers heroku-mcp's approval elicitations with the agent's Approvals policy (McpElicitation.fromApprovals); all audited", async () => {
    const asked: Array<string> = []
    const token = "heroku-mcp-policy-token-0123456789"
    const entries = await auditedHttp(token, (url) =>
      Effect.gen(function* () {
        const policy = Approval.layerPolicy((request) => {
          asked.push(`${request.toolName} ${String(request.arguments["app"])}`)
          return request.arguments["app"] === "shop-api"
            ? Approval.Verdict.approved({ by: "ops-policy", reason: "shop-api restarts are routine" })
            : Approval.Verdict.denied("not billing", { by: "ops-policy" })
        })
        const elicitation = yield* McpElicitation.fromApprovals.pipe(Effect.provide(policy))
        const mcp = yield* Mcp.toolkit(Mcp.http(url, { token }), { retries: 0, elicitation })
        const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
        const restart = (app: string) =>
          Toolkit.execute(resolved, { name: "heroku_dynos_restart_all", args: { app } }, { runId: "r", toolCallId: `restart-${app}`, idempotencyKey: app })
        expect((yield* restart("shop-api")).isError).toBe(false)
        expect((yield* restart("billing")).isError).toBe(true)
      })
    )
    expect(asked).toEqual(["heroku_dynos_restart_all shop-api", "heroku_dynos_restart_all billing"])
    expect(entries.map((e) => [e.tool, e.app, e.kind, e.decision, e.outcome, e.by, e.reason])).toEqual([
      ["heroku_dynos_restart_all", "shop-api", "intent", "approved", "pending", "agentloop", "approved by ops-policy: shop-api restarts are routine"],
      ["heroku_dynos_restart_all", "shop-api", "outcome", "approved", "success", "agentloop", "approved by ops-policy: shop-api restarts are routine"],
      ["heroku_dynos_restart_all", "billing", "refusal", "denied", "not_run", "agentloop", "the client's user declined the call"]
    ])
  })

  it("70 open-and-close cycles of Mcp.toolkit against one heroku-mcp --http leave no session behind and lock nobody out; a foreign Host gets 403", async () => {
    const token = "heroku-mcp-cycles-token-0123456789"
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* serveHeroku({ grant, transport: { http: { token } }, audit: () => undefined })
          for (let cycle = 1; cycle <= 70; cycle++) {
            const info = yield* Effect.scoped(
              Effect.gen(function* () {
                const mcp = yield* Mcp.toolkit(Mcp.http(handle.url!, { token }), { retries: 0 })
                const resolved = yield* Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer))
                return yield* Toolkit.execute(resolved, { name: "heroku_apps_info", args: { app: "shop-api" } }, { runId: "r", toolCallId: `c${cycle}`, idempotencyKey: `c${cycle}` })
              })
            )
            expect(info.isError).toBe(false)
            expect(yield* handle.sessions).toBe(0)
          }
          const foreign = yield* Effect.promise(
            () =>
              new Promise<number>((resolve, reject) => {
                const req = httpRequest(handle.url!, { method: "POST", headers: { host: "attacker.example", authorization: `Bearer ${token}` } }, (res) => {
                  res.resume()
                  resolve(res.statusCode!)
                })
                req.on("error", reject)
                req.end("{}")
              })
          )
          expect(foreign).toBe(403)
        })
      )
    )
  }, 120_000)
})

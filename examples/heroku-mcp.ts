/**
 * `pnpm heroku-mcp`: the Heroku Platform tool set as an MCP server, with grants, approvals, redaction and
 * an audit log. Any MCP client (Claude Desktop, Cursor, the MCP Inspector, `Mcp.toolkit`) can use it.
 *
 *   pnpm heroku-mcp [--grant file.json] [--http] [--port 8787] [--host 127.0.0.1] [--allowed-hosts a,b] [--audit audit.jsonl]
 *
 * - `--grant` (or `HEROKU_MCP_GRANT`): the grant file (default `examples/heroku-mcp.grant.json`): allowed
 *   apps, access level per group, and which risks / tools need a human. Only granted tools are listed.
 * - stdio by default; `--http` serves Streamable HTTP on loopback, with the bearer token `HEROKU_MCP_TOKEN`.
 *   Requests whose `Host` or `Origin` is not `localhost` / `127.0.0.1` / `[::1]` get 403 (DNS rebinding);
 *   with `--host` set to another address, `--allowed-hosts` (or `HEROKU_MCP_ALLOWED_HOSTS`, comma-separated)
 *   names the host names clients use.
 * - `HEROKU_API_KEY` set: the real Platform API. Unset: an in-process fake Heroku (offline), with the apps
 *   `shop-api` (crashed) and `billing` (a secret config var).
 * - Calls that need a human are asked through MCP elicitation; a client without it gets them refused.
 * - Audit entries go to `--audit` (or `HEROKU_MCP_AUDIT`; JSON lines) or stderr. stdout carries only the MCP protocol.
 */
import { appendFileSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Mcp } from "@agentloop/mcp"
import { AuditLog, Grant, HerokuClient, HerokuTools } from "@agentloop/heroku-platform"
import * as Postgres from "@agentloop/heroku-platform/Postgres"
import { Toolkit } from "@agentloop/core"
import { FakeHerokuInference, FakeHerokuPlatform, FakeHerokuPostgres, ScriptedModel } from "@agentloop/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted, type Scope } from "effect"

export const defaultGrantFile = fileURLToPath(new URL("./heroku-mcp.grant.json", import.meta.url))

export interface Options {
  readonly grant: Grant.Grant
  readonly transport: Mcp.Transport
  /** The real API's token; absent: the in-process fake. */
  readonly herokuApiKey?: string
  readonly audit: (entry: AuditLog.Entry) => void
}

/**
 * The fake's starting state: a crashed app, and an app with a secret config var. Managed Inference is a fake
 * too (the model catalog, and a model that answers a few times), so nothing leaves the machine offline.
 */
const seedFake = Effect.gen(function* () {
  const inference = yield* FakeHerokuInference.make({ chat: Array.from({ length: 20 }, () => ScriptedModel.text("This is the offline fake model.")) })
  const fake = yield* FakeHerokuPlatform.make({ inference: { url: inference.url, key: inference.key } })
  fake.addApp("shop-api")
  fake.crash("shop-api")
  fake.addApp("billing", { config: { DATABASE_URL: "postgres://billing:pl4nted-s3cret@db.internal:5432/billing" } })
  fake.addApp("other-team-app")
  // The Postgres data API too (its SQL tools reach the app's DATABASE_URL, which offline goes nowhere).
  const data = yield* FakeHerokuPostgres.make({ platform: fake })
  return { url: fake.url, inferenceUrl: inference.url, dataUrl: data.url }
})

/** The Platform tools the grant allows, and the Postgres tools when it gives the `postgres` group. */
export const toolkitFor = (grant: Grant.Grant) =>
  Postgres.allowedOperations(grant).length === 0 ? HerokuTools.toolkit(grant) : Toolkit.merge(HerokuTools.toolkit(grant), Postgres.toolkit(grant))

/** Serves the granted Heroku tools until the scope closes. */
export const serveHeroku = (options: Options): Effect.Effect<Mcp.ServeHandle, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const offline = options.herokuApiKey === undefined ? yield* seedFake : undefined
    const token = Redacted.make(options.herokuApiKey ?? "test-token")
    // Built into this scope (not per call): the HTTP client and audit log live as long as the server.
    const context = yield* Layer.build(
      Layer.merge(HerokuTools.layer(options.grant), Postgres.layer(options.grant)).pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            AuditLog.layer((entry) => Effect.sync(() => options.audit(entry))),
            HerokuClient.layer({ token, ...(offline === undefined ? {} : { baseUrl: offline.url, inferenceUrl: offline.inferenceUrl }) }),
            Postgres.layerDataClient({ token, ...(offline === undefined ? {} : { baseUrl: offline.dataUrl }) })
          ).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    )
    return yield* Mcp.serve(toolkitFor(options.grant), {
      name: "agentloop-heroku",
      transport: options.transport,
      annotations: (tool) => HerokuTools.annotations(tool.name) ?? Postgres.annotations(tool.name)
    }).pipe(Effect.provide(context))
  })

const flag = (args: ReadonlyArray<string>, name: string): string | undefined => {
  const index = args.indexOf(name)
  return index === -1 ? undefined : args[index + 1]
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const http = args.includes("--http")
  // stdout is the protocol channel over stdio: anything logged must go to stderr.
  console.log = console.error
  const grantFile = flag(args, "--grant") ?? process.env["HEROKU_MCP_GRANT"] ?? defaultGrantFile
  const auditFile = flag(args, "--audit") ?? process.env["HEROKU_MCP_AUDIT"]
  const apiKey = process.env["HEROKU_API_KEY"]
  const program = Effect.gen(function* () {
    const grant = yield* Grant.fromJson(readFileSync(grantFile, "utf8"), grantFile)
    const bearer = process.env["HEROKU_MCP_TOKEN"]
    if (http && (bearer === undefined || bearer === "")) return yield* Effect.fail("--http needs HEROKU_MCP_TOKEN (the bearer token clients send)")
    const host = flag(args, "--host")
    const allowedHosts = (flag(args, "--allowed-hosts") ?? process.env["HEROKU_MCP_ALLOWED_HOSTS"])
      ?.split(",")
      .map((name) => name.trim())
      .filter((name) => name !== "")
    const handle = yield* serveHeroku({
      grant,
      transport: http
        ? {
            http: {
              token: bearer!,
              port: Number(flag(args, "--port") ?? 8787),
              ...(host === undefined ? {} : { host }),
              ...(allowedHosts === undefined ? {} : { allowedHosts })
            }
          }
        : "stdio",
      ...(apiKey === undefined || apiKey === "" ? {} : { herokuApiKey: apiKey }),
      audit: (entry) =>
        auditFile === undefined ? process.stderr.write(`audit: ${AuditLog.format(entry)}\n`) : appendFileSync(auditFile, `${JSON.stringify(entry)}\n`)
    })
    process.stderr.write(
      `agentloop heroku-mcp: ${toolkitFor(grant).names.length} tools, ${apiKey ? "real Heroku API" : "fake Heroku (offline)"}, ${handle.url ?? "stdio"}\n`
    )
    yield* handle.closed
  }).pipe(Effect.scoped)
  const controller = new AbortController()
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => controller.abort())
  Effect.runPromise(program, { signal: controller.signal }).then(
    () => process.exit(0),
    (error) => {
      if (controller.signal.aborted) process.exit(0)
      process.stderr.write(`heroku-mcp: ${String(error)}\n`)
      process.exit(1)
    }
  )
}

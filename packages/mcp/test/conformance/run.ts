/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`) against our server
 * (`Mcp.serve` over Streamable HTTP) and our client (`Mcp.toolkit`):
 *
 *   pnpm --filter @agentloop/mcp conformance      (or `pnpm conformance` in packages/mcp)
 *
 * Server: the active suite, with `server-baseline.yml` listing the scenarios that do not apply to a server
 * that offers tools only (resources, prompts, logging, completion, sampling, progress, non-text content) and
 * why; the suite fails on any other failure, and on a listed scenario that passes. Client: the scenarios a
 * tools client with bearer-token auth takes part in (`CLIENT_SCENARIOS`, elicitation included). `NOT_APPLICABLE`
 * names the other scenarios (OAuth) with the reason; they run and must keep failing.
 *
 * The suite sends no `Authorization` header and our server requires one, so the server is reached through a
 * local proxy that adds the bearer token and forwards everything else as sent, `Host` and `Origin` included:
 * the DNS-rebinding checks are our server's own.
 *
 * Exits 0 when every applicable scenario passes; prints each scenario's outcome.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer, request } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { Mcp } from "@agentloop/mcp"
import { Effect } from "effect"
import { CLOSE_STREAM_AFTER_MS, ConformanceTools, conformanceHandlers } from "./tools.js"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const packageDir = here("../..")
const cli = here("../../node_modules/@modelcontextprotocol/conformance/dist/index.js")
const tsx = here("../../../../node_modules/.bin/tsx")
const TOKEN = "conformance-bearer-token-0123456789"

/** Client scenarios that apply to `Mcp.toolkit` (bearer tokens rather than OAuth). */
export const CLIENT_SCENARIOS = ["initialize", "tools_call", "sse-retry", "elicitation-sep1034-client-defaults"] as const

/** Scenarios of the suite's pending set (not in its active suite yet) that apply to our server: run one by one. */
export const PENDING_SERVER_SCENARIOS = ["json-schema-2020-12", "server-sse-polling"] as const

/**
 * Scenarios that do not apply, each run anyway and expected to fail, with the reason (printed as `n/a`): if
 * one starts passing, the run fails, so the reason is kept true. One `auth/*` scenario stands for the family
 * (all of them drive a client's OAuth flow).
 */
export const NOT_APPLICABLE: ReadonlyArray<{ readonly mode: "server" | "client"; readonly scenario: string; readonly reason: string }> = [
  {
    mode: "client",
    scenario: "auth/metadata-default",
    reason: "auth/* drive a client's OAuth authorization flow; Mcp.http takes a bearer token (Mcp.http(url, { token })) and implements no OAuth client"
  }
]

/** Forwards to `target` with the bearer token added; `Host`, `Origin` and the rest as the suite sent them. */
const authProxy = (target: URL) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly url: string; readonly close: () => void }>((resume) => {
      const proxy = createServer((incoming, outgoing) => {
        const forwarded = request(
          { host: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers: { ...incoming.headers, authorization: `Bearer ${TOKEN}` } },
          (answer) => {
            outgoing.writeHead(answer.statusCode!, answer.headers)
            answer.pipe(outgoing)
          }
        )
        forwarded.on("error", () => outgoing.destroy())
        outgoing.on("close", () => forwarded.destroy())
        incoming.pipe(forwarded)
      })
      proxy.listen(0, "127.0.0.1", () => {
        const { port } = proxy.address() as AddressInfo
        resume(Effect.succeed({ url: `http://localhost:${port}/mcp`, close: () => (proxy.closeAllConnections(), proxy.close()) }))
      })
    }),
    (proxy) => Effect.sync(proxy.close)
  )

/** Runs the conformance CLI; its exit code and output. */
const conformance = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<{ readonly code: number; readonly output: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...args], { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] })
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
        child.on("error", reject)
        child.on("close", (code) => resolve({ code: code ?? 1, output }))
      })
  )

export interface Outcome {
  readonly mode: "server" | "client"
  readonly scenario: string
  readonly passed: boolean
}

/** The scenarios `server-baseline.yml` lists as not applying to our server. */
export const notApplicable = (): ReadonlySet<string> =>
  new Set([
    ...[...readFileSync(here("./server-baseline.yml"), "utf8").matchAll(/^\s+- ([\w/-]+)\s*$/gmu)].map((m) => m[1]!),
    ...NOT_APPLICABLE.map((n) => n.scenario)
  ])

/** Our server's outcomes, from the suite's summary lines (`✓ name: …` / `✗ name: …`). */
const summary = (mode: Outcome["mode"], output: string): Array<Outcome> =>
  [...output.matchAll(/^([✓✗]) ([\w/-]+): \d+ passed, \d+ failed/gmu)].map((m) => ({ mode, scenario: m[2]!, passed: m[1] === "✓" }))

export const run = Effect.scoped(
  Effect.gen(function* () {
    const handle = yield* Mcp.serve(ConformanceTools, {
      name: "agentloop-conformance",
      closeStreamAfter: `${CLOSE_STREAM_AFTER_MS} millis`,
      transport: { http: { token: TOKEN } }
    }).pipe(
      Effect.provide(conformanceHandlers)
    )
    const proxy = yield* authProxy(new URL(handle.url!))
    const server = yield* conformance(["server", "--url", proxy.url, "--expected-failures", "test/conformance/server-baseline.yml"])
    const outcomes = summary("server", server.output)
    let ok = server.code === 0
    for (const scenario of PENDING_SERVER_SCENARIOS) {
      const pending = yield* conformance(["server", "--url", proxy.url, "--scenario", scenario])
      outcomes.push({ mode: "server", scenario, passed: pending.code === 0 })
      if (pending.code !== 0) {
        ok = false
        process.stderr.write(pending.output)
      }
    }
    for (const scenario of CLIENT_SCENARIOS) {
      const client = yield* conformance(["client", "--command", `${tsx} --conditions=@agentloop/source test/conformance/client.ts`, "--scenario", scenario])
      outcomes.push({ mode: "client", scenario, passed: client.code === 0 })
      if (client.code !== 0) {
        ok = false
        process.stderr.write(client.output)
      }
    }
    for (const { mode, scenario } of NOT_APPLICABLE) {
      const expected =
        mode === "server"
          ? yield* conformance(["server", "--url", proxy.url, "--scenario", scenario])
          : yield* conformance(["client", "--command", `${tsx} --conditions=@agentloop/source test/conformance/client.ts`, "--scenario", scenario])
      outcomes.push({ mode, scenario, passed: expected.code === 0 })
      // A scenario that does not apply and passes means the reason is out of date.
      if (expected.code === 0) ok = false
    }
    if (server.code !== 0) process.stderr.write(server.output)
    return { ok, outcomes }
  })
)

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(run).then(({ ok, outcomes }) => {
    const skipped = notApplicable()
    const why = new Map(NOT_APPLICABLE.map((n) => [n.scenario, n.reason]))
    for (const o of outcomes) {
      const status = o.passed ? (why.has(o.scenario) ? "FAIL (passes, but listed as not applicable)" : "pass") : skipped.has(o.scenario) ? "n/a " : "FAIL"
      process.stdout.write(`${status} ${o.mode} ${o.scenario}${!o.passed && why.has(o.scenario) ? `: ${why.get(o.scenario)}` : ""}\n`)
    }
    process.stdout.write("n/a  server (server-baseline.yml): resources, prompts, logging, completion, sampling, progress, non-text content; why in the file\n")
    process.exit(ok ? 0 : 1)
  })
}

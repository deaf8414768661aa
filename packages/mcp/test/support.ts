/** Shared helpers for the MCP tests: the fixture server, its event log, and bounded polling. */
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, Approval, Loop, RunStore, type ToolRule } from "@agentloop/core"
import { Mcp } from "@agentloop/mcp"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { ScriptedModel } from "@agentloop/testing"
import { Effect, Layer, Schedule } from "effect"

export const fixturePath = fileURLToPath(new URL("./fixtures/stdio-server.mjs", import.meta.url))

/** A fresh log file for one fixture server (starts, calls, cancellations: one line each). */
export const fixtureLog = () => {
  const file = join(mkdtempSync(join(tmpdir(), "agentloop-mcp-")), "fixture.log")
  const lines = () => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line !== "") : [])
  return { file, lines }
}

export const fixtureConnection = (log: string, env: Record<string, string> = {}) =>
  Mcp.stdio(process.execPath, [fixturePath], { name: "fixture", env: { FIXTURE_LOG: log, ...env } })

/** Waits until `check` holds, re-checking every 20 ms (bounded by the test's timeout, not wall time). */
export const eventually = (check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail("not yet"))).pipe(Effect.retry(Schedule.spaced("20 millis")), Effect.orDie)

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const toolResults = (events: ReadonlyArray<{ _tag: string }>) =>
  events.filter((e): e is { _tag: "ToolResult"; toolName: string; content: string; isError: boolean; errorKind?: string } & typeof e => e._tag === "ToolResult")

/** Runs the loop once over the MCP toolkit with a scripted model. */
export const runAgent = (
  mcp: Mcp.Snapshot,
  turns: ReadonlyArray<ScriptedModel.Turn>,
  options: { readonly approvals?: Layer.Layer<Approval.Approvals>; readonly rules?: ReadonlyArray<ToolRule.ToolRule> } = {}
) =>
  Effect.gen(function* () {
    const model = ScriptedModel.make(turns)
    const events: Array<any> = []
    const agent = Agent.make({ name: "mcp-agent", toolkit: mcp.toolkit, rules: options.rules ?? [] })
    const outcome = yield* Loop.run(agent, { input: "go" }, { onEvent: (e) => events.push(e) }).pipe(
      Effect.provide(Layer.mergeAll(model.layerUnchecked, mcp.layer, options.approvals ?? Approval.layerAutoApprove, RunStore.layerMemory))
    )
    return { outcome, events, results: toolResults(events) }
  })

/**
 * The official SDK client over Streamable HTTP with a bearer token, answering approval elicitations with
 * `answer()` (read at each request, so a test can change its mind); `call` returns a tool's text and whether
 * it was an error, and keeps every text in `outputs` (for searching planted secrets). Closed with the scope.
 */
export const sdkHttpClient = (
  url: string,
  token: string,
  options: {
    readonly name: string
    readonly answer: () => { readonly approve: boolean; readonly reason: string }
    readonly outputs?: Array<string>
  }
) =>
  Effect.gen(function* () {
    const outputs = options.outputs ?? []
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Client({ name: options.name, version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } })
        client.setRequestHandler(ElicitRequestSchema, async () => {
          const { approve, reason } = options.answer()
          return approve ? { action: "accept" as const, content: { approve: true, reason } } : { action: "decline" as const }
        })
        await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
        return client
      }),
      (client) => Effect.promise(() => client.close())
    )
    const call = (name: string, args: Record<string, unknown>) =>
      Effect.promise(async () => {
        const result = await client.callTool({ name, arguments: args })
        const text = (result.content as Array<{ text: string }>).map((b) => b.text).join("")
        outputs.push(text)
        return { text, isError: result.isError === true }
      })
    return { client, call, outputs }
  })

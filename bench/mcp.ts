/**
 * W5: what our loop adds to an MCP tool call. The same `echo` server (`mcp-echo-server.mjs`, the official
 * SDK) is called by the SDK's own client directly, and by an agent whose toolkit is `Mcp.toolkit` over the
 * same transport: one call per model step, with a zero-latency model. Over stdio and Streamable HTTP.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { setMaxListeners } from "node:events"
import { AgentBackend, Approval, LanguageModel, RunStore, Toolkit } from "@agentloop/core"
import { Mcp, McpToolkit } from "@agentloop/mcp"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { median, now } from "./harness.js"
import { echoModel } from "./loops.js"

// Run bundled from bench/.build/ or directly from bench/.
const serverScript = [new URL("../mcp-echo-server.mjs", import.meta.url), new URL("./mcp-echo-server.mjs", import.meta.url)]
  .map((url) => fileURLToPath(url))
  .find((path) => existsSync(path))!

export interface Endpoint {
  readonly name: string
  readonly connection: Mcp.Connection
  readonly transport: () => StdioClientTransport | StreamableHTTPClientTransport
  readonly close: () => Promise<void>
}

export const stdioEndpoint = async (): Promise<Endpoint> => ({
  name: "stdio",
  connection: Mcp.stdio(process.execPath, [serverScript]),
  transport: () => new StdioClientTransport({ command: process.execPath, args: [serverScript] }),
  close: async () => {}
})

/** One HTTP server process for both contenders, spawned asynchronously and killed on close. */
export const httpEndpoint = async (): Promise<Endpoint> => {
  const child: ChildProcess = spawn(process.execPath, [serverScript, "http"], { stdio: ["pipe", "pipe", "inherit"] })
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject)
    child.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString("utf8")).url))
  })
  return {
    name: "Streamable HTTP",
    connection: Mcp.http(url),
    transport: () => new StreamableHTTPClientTransport(new URL(url)),
    close: async () => {
      child.stdin!.end()
      child.kill("SIGTERM")
    }
  }
}

export interface Result {
  readonly transport: string
  readonly directUs: number
  /** The `Mcp.toolkit` handler through `Toolkit.execute`, without the loop. */
  readonly handlerUs: number
  readonly loopUs: number
}

/**
 * µs per call for each contender over one endpoint. The contenders take turns within each repetition
 * (after a shared warm-up), so both see the same machine conditions.
 */
export const measureEndpoint = async (endpoint: Endpoint, quick: boolean): Promise<Result> => {
  const calls = quick ? 100 : 300
  const repetitions = quick ? 5 : 11

  // The SDK's HTTP transport passes one long-lived AbortSignal to every fetch; undici registers a listener
  // per request on it and drops it only when the request is collected. Not a leak, but Node warns at 1,500.
  setMaxListeners(0)
  const client = new Client({ name: "bench", version: "1.0.0" })
  await client.connect(endpoint.transport())
  const direct = async () => {
    for (let i = 0; i < calls; i++) {
      const result = await client.callTool({ name: "echo", arguments: { text: "hello" } })
      if (result.isError === true) throw new Error("the direct call failed")
    }
  }

  const layer = Mcp.layerLocal(endpoint.connection, McpToolkit.agent("bench", { maxSteps: calls + 1 })).pipe(
    Layer.provide(
      Layer.mergeAll(Layer.sync(LanguageModel.LanguageModel, () => echoModel(calls, 0)), Approval.layerAutoApprove, RunStore.layerMemory)
    )
  )
  const runtime = ManagedRuntime.make(layer)
  const backend = await runtime.runPromise(AgentBackend.AgentBackend)
  let lastRunId = ""
  const loop = async () => {
    const outcome = await runtime.runPromise(backend.run({ input: "go" }))
    if (outcome._tag !== "Completed") throw new Error(`the MCP agent did not complete: ${JSON.stringify(outcome)}`)
    lastRunId = outcome.runId
  }

  const scope = Effect.runSync(Scope.make())
  const mcp = await Effect.runPromise(Scope.provide(Mcp.toolkit(endpoint.connection), scope))
  const resolved = await Effect.runPromise(Toolkit.resolve(mcp.toolkit).pipe(Effect.provide(mcp.layer)))
  const handlerCalls = Effect.gen(function* () {
    for (let i = 0; i < calls; i++) {
      const execution = yield* Toolkit.execute(resolved, { name: "echo", args: { text: "hello" } }, { runId: "r", toolCallId: "c", idempotencyKey: "k" })
      if (execution.isError) throw new Error(`the handler call failed: ${execution.content}`)
    }
  })
  const handler = () => Effect.runPromise(handlerCalls)

  const samples = { direct: [] as Array<number>, handler: [] as Array<number>, loop: [] as Array<number> }
  try {
    const warmupStart = now()
    while (now() - warmupStart < (quick ? 300 : 2000)) {
      await direct()
      await handler()
      await loop()
    }
    for (let r = 0; r < repetitions; r++) {
      let start = now()
      await direct()
      samples.direct.push(now() - start)
      start = now()
      await handler()
      samples.handler.push(now() - start)
      start = now()
      await loop()
      samples.loop.push(now() - start)
    }
    // Every call of the last run reached the server and came back as "hello" (not an error result).
    const state = await runtime.runPromise(backend.getRun(lastRunId))
    const toolMessages = state._tag === "Some" ? state.value.messages.filter((m) => m._tag === "ToolMessage") : []
    if (toolMessages.length !== calls || toolMessages.some((m) => m._tag !== "ToolMessage" || m.isError || m.content !== "hello")) {
      throw new Error(`the MCP agent's calls did not all succeed (${toolMessages.length} of ${calls})`)
    }
  } finally {
    await client.close()
    await runtime.dispose()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  const perCall = (ms: Array<number>) => (median(ms) * 1000) / calls
  return { transport: endpoint.name, directUs: perCall(samples.direct), handlerUs: perCall(samples.handler), loopUs: perCall(samples.loop) }
}

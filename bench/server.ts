/**
 * `pnpm bench:server`: `@agentloop/server` with many SSE clients on one process. The server runs in a child
 * process of its own (its memory is measured there, after a full GC, through IPC); the clients run in this
 * process and talk to it over 127.0.0.1 only.
 *
 * - Followers: `--clients` clients follow `--runs` runs (`GET /api/runs/{id}/events`); each run's model streams
 *   a text delta every `--intervals` ms (one phase per interval, default 100 and 20) for `--seconds`. Every
 *   delta carries the wall-clock time the model emitted it, so each client's latency is emit -> frame parsed
 *   by the client. Memory per client: the server with the clients connected (and after they have received
 *   every event) minus the server with the runs started and no client.
 * - Stalled clients: `--stalled` raw sockets ask for the events of a finished run with a large log and never
 *   read; the server's memory must stay bounded (a pulled stream per client, at most a batch of frames each),
 *   and followers of another run, measured meanwhile, keep their latency.
 *
 * Bounded: every wait has a deadline and the whole bench stops after `--deadline` seconds (default 300).
 * `--quick` shrinks it (100 clients, 2 s phases). The packages are loaded from their dist/ build (`pnpm build`
 * runs first), as a user loads them.
 */
import { type ChildProcess, fork } from "node:child_process"
import { Agent as HttpAgent, request } from "node:http"
import { connect, type Socket } from "node:net"
import { cpus, totalmem } from "node:os"
import { fileURLToPath } from "node:url"
import type { LanguageModel as Model } from "@agentloop/core"
import { fmt } from "./harness.js"

const arg = (name: string, fallback: number): number => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}
const quick = process.argv.includes("--quick")
const token = "bench-admin-token-0123456789"
/** Wall-clock milliseconds with sub-millisecond precision, comparable across the two processes. */
const wallClock = (): number => performance.timeOrigin + performance.now()

// The server process -------------------------------------------------------------------------------------

/** What a run does, read from its input: `events=200 interval=20 size=16 gate=go hold=end`. */
interface Plan {
  readonly events: number
  readonly interval: number
  readonly size: number
  readonly gate: string | undefined
  readonly hold: string | undefined
}

const planOf = (input: string): Plan => {
  const field = (name: string) => new RegExp(`${name}=(\\S+)`).exec(input)?.[1]
  return {
    events: Number(field("events") ?? 10),
    interval: Number(field("interval") ?? 0),
    size: Number(field("size") ?? 16),
    gate: field("gate"),
    hold: field("hold")
  }
}

const server = async () => {
  const { Agent, AgentBackend, Approval, LanguageModel, RunStore, Toolkit } = await import("@agentloop/core")
  const { Auth, Runs, Server } = await import("@agentloop/server")
  const { Context, Effect, Exit, Layer, Scope, Stream, Queue } = await import("effect")

  /** Gates opened by the parent (`open` messages): a run waits at its `gate` before streaming, at `hold` before finishing. */
  const gates = new Map<string, { readonly promise: Promise<void>; readonly open: () => void }>()
  const gate = (name: string) => {
    let entry = gates.get(name)
    if (entry === undefined) {
      let open!: () => void
      const promise = new Promise<void>((resolve) => (open = resolve))
      entry = { promise, open }
      gates.set(name, entry)
    }
    return entry
  }

  const sleep = (ms: number) => (ms <= 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, ms)))
  /** Streams the plan's deltas; each one's text starts with the time it was emitted. */
  const play = async (plan: Plan, emit: (parts: ReadonlyArray<Model.ResponsePart>) => void) => {
    if (plan.gate !== undefined) await gate(plan.gate).promise
    const pad = "x".repeat(Math.max(0, plan.size - 20))
    // An absolute schedule: a server that falls behind emits the overdue deltas at once (its throughput shows
    // it) rather than silently lowering the rate offered.
    const start = performance.now()
    for (let i = 0; i < plan.events; i++) {
      if (plan.interval > 0) await sleep(start + (i + 1) * plan.interval - performance.now())
      else if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
      emit([LanguageModel.textDelta(`${wallClock().toFixed(3)}|${pad} `)])
    }
    if (plan.hold !== undefined) await gate(plan.hold).promise
    emit([LanguageModel.finish("stop")])
  }
  const inputOf = (request: Model.ModelRequest): string => {
    for (const message of request.messages) if (message._tag === "UserMessage") return message.content
    return ""
  }
  const model: Model.Service = {
    pushStep: (request, emit) => Effect.promise(() => play(planOf(inputOf(request)), emit)),
    streamStep: (request) =>
      Stream.callback<Model.ResponsePart, Model.ModelError>((queue) =>
        Effect.promise(() =>
          play(planOf(inputOf(request)), (parts) => {
            for (const part of parts) Queue.offerUnsafe(queue, part)
          })
        ).pipe(Effect.andThen(Queue.end(queue)))
      )
  }

  const toolkit = Toolkit.make()
  const backend = AgentBackend.layerLocal(Agent.make({ name: "bench", toolkit, maxSteps: 1 })).pipe(
    Layer.provide(Layer.mergeAll(Layer.succeed(LanguageModel.LanguageModel, model), Approval.layerSuspend(), RunStore.layerMemory, toolkit.toLayer({})))
  )
  const scope = Effect.runSync(Scope.make())
  const layer = Server.layerNode({ port: 0, console: false }).pipe(
    Layer.provideMerge(Runs.layer({ bench: { backend } })),
    Layer.provide(Auth.layerBearerTokens([{ token, subject: "bench@example.com", role: "admin" }]))
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const url = Effect.runSync(Effect.provideContext(Server.url, context))
  const runs = Context.get(context, Runs.Runs)

  const collect = (globalThis as { gc?: () => void }).gc
  process.on("message", async (message: { readonly id: number; readonly type: string; readonly name?: string; readonly gc?: boolean }) => {
    if (message.type === "exit") return Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
    if (message.type === "open") gate(message.name!).open()
    if (message.type === "memory" && message.gc === true && collect !== undefined) {
      // Twice, with a turn of the event loop between, so finalizers that free native memory have run.
      collect()
      await new Promise((resolve) => setImmediate(resolve))
      collect()
    }
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
    const stats = await Effect.runPromise(runs.stats)
    process.send!({ id: message.id, rss, heapUsed, external, arrayBuffers, ...stats })
  })
  // The bench's process gone (finished, failed or killed): so is this one.
  process.on("disconnect", () => process.exit(0))
  process.send!({ id: 0, url })
}

// The clients (this process) -----------------------------------------------------------------------------

interface Memory {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  readonly runs: number
  readonly waiting: number
}

const withDeadline = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error))
    )
  })

/** Polls `check` every 20 ms until it holds, failing after `ms`. */
const until = async (check: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`
const kb = (bytes: number) => `${fmt(bytes / 1024, 1)} KB`

/**
 * An SSE client on a raw socket, so the clients' own work per frame (measured as latency) stays small; with
 * node:http clients the latencies were about the same. It checks the numbering and records each delta's latency.
 * Frames are whole within the chunked body (one write per batch of frames), so the chunk-size lines between
 * them are simply skipped.
 */
class Follower {
  frames = 0
  deltas = 0
  last = 0
  problems = 0
  /** The first problem seen (for the error message). */
  problem: string | undefined
  ended = false
  private buffer = ""
  private headers = false
  private socket: Socket | undefined

  constructor(
    readonly port: number,
    readonly runId: string,
    readonly latencies: Float64Array,
    readonly offset: number
  ) {}

  open(): void {
    const socket = connect(this.port, "127.0.0.1")
    this.socket = socket
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => this.receive(chunk))
    socket.on("end", () => (this.ended = true))
    socket.on("close", () => (this.ended = true))
    socket.on("error", (error) => this.fail(String(error)))
    socket.write(`GET /api/runs/${this.runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)
  }

  close(): void {
    this.socket?.destroy()
  }

  private fail(problem: string): void {
    this.problems++
    this.problem ??= problem
    this.ended = true
  }

  private receive(chunk: string): void {
    const at = wallClock()
    this.buffer += chunk
    if (!this.headers) {
      const end = this.buffer.indexOf("\r\n\r\n")
      if (end < 0) return
      if (!this.buffer.startsWith("HTTP/1.1 200")) this.fail(this.buffer.slice(0, this.buffer.indexOf("\r\n")))
      this.headers = true
      this.buffer = this.buffer.slice(end + 4)
    }
    let end: number
    let start = 0
    while ((end = this.buffer.indexOf("\n\n", start)) >= 0) {
      this.frame(this.buffer.slice(start, end), at)
      start = end + 2
    }
    this.buffer = this.buffer.slice(start)
  }

  private frame(block: string, at: number): void {
    const idAt = block.indexOf("id: ")
    if (idAt < 0) return
    const id = Number(block.slice(idAt + 4, block.indexOf("\n", idAt)))
    if (id !== this.last + 1) {
      this.problems++
      this.problem ??= `event ${id} after ${this.last}`
    }
    this.last = id
    this.frames++
    const delta = block.indexOf('"delta":"')
    if (delta >= 0 && block.includes("event: TextDelta")) {
      const stamp = Number(block.slice(delta + 9, block.indexOf("|", delta)))
      if (this.offset + this.deltas < this.latencies.length) this.latencies[this.offset + this.deltas] = at - stamp
      this.deltas++
    }
  }
}

const main = async () => {
  const clients = arg("clients", quick ? 100 : 1000)
  const runCount = arg("runs", quick ? 5 : 10)
  /** The follower phases: each run emits a delta every `interval` ms for `seconds`. */
  const intervals = (process.argv.find((a) => a.startsWith("--intervals="))?.slice("--intervals=".length) ?? "100,20").split(",").map(Number)
  const seconds = arg("seconds", quick ? 2 : 4)
  const size = arg("size", 32)
  const stalledCount = arg("stalled", quick ? 50 : 200)
  const bigEvents = arg("big-events", 2000)
  const bigSize = arg("big-size", 4096)
  const deadlineSeconds = arg("deadline", 300)

  // The server child runs without the workspace's source condition: `@agentloop/*` resolve to dist/.
  const env = { ...process.env }
  delete env["NODE_OPTIONS"]
  // `--profile=<dir>`: a CPU profile of the server process (node --cpu-prof), written when it exits.
  const profile = process.argv.find((a) => a.startsWith("--profile="))?.slice("--profile=".length)
  const execArgv = profile === undefined ? process.execArgv : [...process.execArgv, "--cpu-prof", `--cpu-prof-dir=${profile}`]
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--role=server"], { env, execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const overall = setTimeout(() => {
    console.error(`bench:server: stopped after the ${deadlineSeconds} s deadline`)
    child.kill("SIGKILL")
    process.exit(1)
  }, deadlineSeconds * 1000)
  overall.unref()

  let nextId = 1
  const replies = new Map<number, (value: any) => void>()
  const ready = new Promise<string>((resolve) => replies.set(0, (m) => resolve(m.url)))
  child.on("message", (message: { id: number }) => {
    replies.get(message.id)?.(message)
    replies.delete(message.id)
  })
  child.on("exit", (code) => {
    if (code !== 0 && code !== null) console.error(`the server process exited with ${code}`)
  })
  const ask = (type: string, extra: Record<string, unknown> = {}) =>
    withDeadline(
      new Promise<any>((resolve) => {
        const id = nextId++
        replies.set(id, resolve)
        child.send({ id, type, ...extra })
      }),
      30_000,
      type
    )
  const memory = (): Promise<Memory> => ask("memory", { gc: true })
  const open = (name: string) => ask("open", { name })

  const url = await withDeadline(ready, 60_000, "server start")
  const port = Number(new URL(url).port)
  // No keep-alive: an idle pooled socket the server has closed meanwhile would fail the next request on it.
  const agent = new HttpAgent({ keepAlive: false, maxSockets: Infinity })

  /** Starts a run over HTTP and lets go of its stream as soon as the run has started (the run goes on). */
  const start = (runId: string, input: string) =>
    withDeadline(
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ input, runId })
        const req = request(`${url}/api/agents/bench/runs`, {
          method: "POST",
          agent,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
        }, (response) => {
          if (response.statusCode !== 200) reject(new Error(`start ${runId}: ${response.statusCode}`))
          response.destroy()
          resolve()
        })
        req.on("error", reject)
        req.end(body)
      }),
      30_000,
      `start ${runId}`
    )

  const getJson = (path: string) =>
    new Promise<any>((resolve, reject) => {
      request(`${url}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (text += chunk))
        response.on("end", () => resolve(JSON.parse(text)))
        response.on("error", reject)
      }).on("error", reject).end()
    })

  /** Followers of `runIds` (spread evenly), their latencies, and every frame checked; `events` deltas each. */
  const follow = async (
    label: string,
    count: number,
    runIds: ReadonlyArray<string>,
    perClient: number,
    release: () => Promise<void>,
    finish: () => Promise<void>
  ) => {
    const latencies = new Float64Array(count * perClient).fill(Number.NaN)
    const followers = Array.from({ length: count }, (_, i) => new Follower(port, runIds[i % runIds.length]!, latencies, i * perClient))
    for (const follower of followers) follower.open()
    // Each has the run's first two events (RunStarted, StepStarted): connected and caught up.
    await until(() => followers.every((f) => f.frames >= 2 || f.ended), 60_000, `${label}: clients connected`)
    const connected = await memory()
    const began = performance.now()
    const peak = { rss: connected.rss, heapUsed: connected.heapUsed }
    const sampler = setInterval(() => {
      void ask("memory").then((m: Memory) => {
        peak.rss = Math.max(peak.rss, m.rss)
        peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed)
      }).catch(() => undefined)
    }, 250)
    await release()
    await until(() => followers.every((f) => f.deltas >= perClient || f.ended), 120_000, `${label}: every delta delivered`)
    const seconds = (performance.now() - began) / 1000
    clearInterval(sampler)
    const followed = await memory()
    await finish()
    await until(() => followers.every((f) => f.ended), 60_000, `${label}: streams ended`)
    const problems = followers.reduce((n, f) => n + f.problems, 0)
    const missing = followers.reduce((n, f) => n + Math.max(0, perClient - f.deltas), 0)
    if (problems > 0 || missing > 0) {
      const first = followers.find((f) => f.problem !== undefined)?.problem
      throw new Error(`${label}: ${problems} numbering/HTTP problems (first: ${first ?? "none"}), ${missing} deltas missing`)
    }
    const sorted = latencies.slice().sort()
    return { connected, followed, peak, seconds, sorted, delivered: count * perClient }
  }

  console.log(`## @agentloop/server: ${clients} SSE clients on one process`)
  console.log()
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${mb(totalmem())} RAM, Node ${process.version}. Server in a child process; clients in the parent; 127.0.0.1.`)
  console.log()

  // 1. Followers, at each rate -----------------------------------------------------------------------------
  const empty = await memory()
  const memoryRows: Array<ReadonlyArray<string>> = [["started, no run", mb(empty.rss), mb(empty.heapUsed + empty.external), "", ""]]
  const latencyRows: Array<ReadonlyArray<string>> = []
  for (const interval of intervals) {
    const events = Math.max(1, Math.round((seconds * 1000) / interval))
    const runIds = Array.from({ length: runCount }, (_, i) => `follow-${interval}-${i}`)
    // Runs wait at one of ten gates, opened a tenth of an interval apart, so their deltas do not all land at once.
    const slots = 10
    for (const [i, runId] of runIds.entries()) {
      await start(runId, `events=${events} interval=${interval} size=${size} gate=go-${interval}-${i % slots} hold=end-${interval}`)
    }
    const started = await memory()
    const staggered = async () => {
      for (let slot = 0; slot < slots; slot++) {
        await open(`go-${interval}-${slot}`)
        await new Promise((resolve) => setTimeout(resolve, interval / slots))
      }
    }
    const result = await follow(`followers every ${interval} ms`, clients, runIds, events, staggered, () => open(`end-${interval}`))
    const perClient = (m: Memory) => [kb((m.rss - started.rss) / clients), kb((m.heapUsed + m.external - started.heapUsed - started.external) / clients)]
    memoryRows.push(
      [`${runCount} runs started, no client`, mb(started.rss), mb(started.heapUsed + started.external), "", ""],
      [`${clients} clients connected, waiting`, mb(result.connected.rss), mb(result.connected.heapUsed + result.connected.external), ...perClient(result.connected)],
      [`… after ${events} deltas each, one every ${interval} ms (still connected)`, mb(result.followed.rss), mb(result.followed.heapUsed + result.followed.external), ...perClient(result.followed)],
      ["… peak while streaming (no GC forced)", mb(result.peak.rss), mb(result.peak.heapUsed), "", ""]
    )
    const offered = (clients * 1000) / interval
    latencyRows.push([`every ${interval} ms`, fmt(offered, 0), ...latencyCells(result)])
  }
  print(`### ${clients} clients following ${runCount} runs (${clients / runCount} per run; text deltas of ${size} characters for ${seconds} s)`)
  print()
  table(["server", "RSS", "heap + external", "RSS per client", "heap + external per client"], memoryRows)
  print("Event latency: from the model emitting a delta (its wall-clock time is in the delta) to the client parsing its frame.")
  print()
  table(["each run emits", "deliveries/s offered", ...latencyHeader], latencyRows)

  // 2. Stalled clients ---------------------------------------------------------------------------------------
  if (stalledCount === 0) return child.send({ id: -1, type: "exit" })
  await start("big", `events=${bigEvents} size=${bigSize}`)
  const bigDone = async () => {
    const deadline = Date.now() + 60_000
    for (;;) {
      const detail = await getJson("/api/runs/big")
      if (detail.status === "completed") return detail
      if (Date.now() > deadline) throw new Error(`the big run did not complete: ${JSON.stringify(detail).slice(0, 200)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const big = await bigDone()
  const beforeStalled = await memory()
  const stalled: Array<Socket> = []
  for (let i = 0; i < stalledCount; i++) {
    const socket = connect(port, "127.0.0.1")
    socket.on("error", () => undefined)
    socket.pause()
    socket.write(`GET /api/runs/big/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    stalled.push(socket)
  }
  // Every stalled connection first takes megabytes into the kernel's buffers: measured once the server has
  // stopped writing to them (3 s, then until the memory in use holds still, at most 20 s more).
  await new Promise((resolve) => setTimeout(resolve, 3000))
  let withStalled = await memory()
  for (const settleBy = Date.now() + 20_000; Date.now() < settleBy; ) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const next = await memory()
    const steady = Math.abs(next.heapUsed + next.external - withStalled.heapUsed - withStalled.external) < 1024 * 1024
    withStalled = next
    if (steady) break
  }
  const healthyClients = Math.min(clients, 100)
  const healthyInterval = 20
  const healthyEvents = Math.round((seconds * 1000) / healthyInterval)
  await start("healthy", `events=${healthyEvents} interval=${healthyInterval} size=${size} gate=healthy-go hold=healthy-end`)
  const healthy = await follow("healthy beside stalled", healthyClients, ["healthy"], healthyEvents, () => open("healthy-go"), () => open("healthy-end"))
  const stillStalled = await memory()
  for (const socket of stalled) socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const afterStalled = await memory()
  const logBytes = big.lastEventId * (bigSize + 120)
  print(`### ${stalledCount} stalled clients (never read) on a finished run of ${big.lastEventId} events (~${mb(logBytes)} of frames)`)
  print()
  const perStalled = (m: Memory) => [kb((m.rss - beforeStalled.rss) / stalledCount), kb((m.heapUsed + m.external - beforeStalled.heapUsed - beforeStalled.external) / stalledCount)]
  const held = (m: Memory) => mb(m.heapUsed + m.external)
  table(
    ["server", "RSS", "heap + external", "RSS per stalled client", "heap + external per stalled client"],
    [
      ["the big run finished, no client", mb(beforeStalled.rss), held(beforeStalled), "", ""],
      [`${stalledCount} stalled clients connected, no longer written to`, mb(withStalled.rss), held(withStalled), ...perStalled(withStalled)],
      [`… and after ${healthyClients} healthy followers of another run`, mb(stillStalled.rss), held(stillStalled), ...perStalled(stillStalled)],
      ["stalled clients gone", mb(afterStalled.rss), held(afterStalled), "", ""]
    ]
  )
  print(`A server that queued the whole log per client would hold ~${mb(logBytes * stalledCount)} for them.`)
  print()
  print(`Healthy followers of another run beside the stalled clients (${healthyClients} clients, ${healthyEvents} deltas each, one every ${healthyInterval} ms):`)
  print()
  table(latencyHeader, [latencyCells(healthy)])

  agent.destroy()
  child.send({ id: -1, type: "exit" })
}

const print = (line = "") => console.log(line)
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  print(`| ${header.join(" | ")} |`)
  print(`|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`)
  for (const row of rows) print(`| ${row.join(" | ")} |`)
  print()
}
const latencyHeader = ["deliveries", "deliveries/s", "p50", "p90", "p99", "max"]
const latencyCells = (result: { readonly sorted: Float64Array; readonly delivered: number; readonly seconds: number }) => {
  const ms = (p: number) => `${fmt(percentile(result.sorted, p), 1)} ms`
  return [result.delivered.toLocaleString("en-US"), fmt(result.delivered / result.seconds, 0), ms(50), ms(90), ms(99), ms(100)]
}

if (process.argv.includes("--role=server")) await server()
else
  await main().catch((error) => {
    console.error(error)
    process.exit(1)
  })

/**
 * What a run holds while its model step is pending: `n` runs through `backend.stream` (or `run`) held
 * mid-step (the model sleeps), then a heap snapshot, its live objects summed by constructor against the
 * same with no run in flight. `node --expose-gc bench/held-mid-step.mjs push|stream stream|run [n] [snapshot]`
 * (after `pnpm build`).
 */
import { Agent, AgentBackend, Approval, LanguageModel, Message, RunStore, Tool, Toolkit } from "@agentloop/core"
import { Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { writeHeapSnapshot } from "node:v8"
import { readFileSync } from "node:fs"
import { Session } from "node:inspector"

// Script ids to file names, for the closures' locations.
const scriptNames = new Map()
const session = new Session()
session.connect()
session.on("Debugger.scriptParsed", ({ params }) => scriptNames.set(Number(params.scriptId), params.url.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, "").replace(/^.*packages\//, "")))
session.post("Debugger.enable")

const [kind = "stream", consumer = "stream", nArg = "1000", out] = process.argv.slice(2)
const n = Number(nArg)
const usage = new Message.Usage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 })
const Echo = Tool.make("echo", { description: "Echo the text.", parameters: { text: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(Echo)
const steps = 5
let gate = Effect.sleep(1)
let ran = 0
const partsOf = (request) => {
  const last = request.messages[request.messages.length - 1]
  const step = last._tag === "ToolMessage" ? Number(last.toolCallId.slice(1)) + 1 : 0
  return step < steps
    ? [LanguageModel.toolCall({ id: `c${step}`, name: "echo", arguments: '{"text":"hello"}' }), LanguageModel.finish("tool_calls", usage)]
    : [LanguageModel.textDelta("done"), LanguageModel.finish("stop", usage)]
}
let latch
const streamStep = (request) => Stream.unwrap(Effect.as(gate, Stream.fromArray(partsOf(request))))
const model = kind === "push" ? { streamStep, pushStep: (request, emit) => Effect.map(gate, () => emit(partsOf(request))) } : { streamStep }
const runtime = ManagedRuntime.make(
  AgentBackend.layerLocal(Agent.make({ name: "bench", toolkit, maxSteps: steps + 1 })).pipe(
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(LanguageModel.LanguageModel, model),
        toolkit.toLayer({ echo: ({ text }) => Effect.sync(() => (ran++, text)) }),
        Approval.layerAutoApprove,
        RunStore.layerMemory
      )
    )
  )
)
const one = Effect.flatMap(AgentBackend.AgentBackend, (backend) =>
  consumer === "stream" ? Stream.runDrain(backend.stream({ input: "go" })) : backend.run({ input: "go" })
)
for (let i = 0; i < 200; i++) await runtime.runPromise(one)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const snap = () => {
  globalThis.gc(); globalThis.gc()
  const file = writeHeapSnapshot(out ? `${out}-${Date.now()}.heapsnapshot` : undefined)
  return file
}
const before = snap()
const heapBefore = process.memoryUsage().heapUsed
// Hold the runs in their third model step.
let release
const held = new Promise((r) => (release = r))
let count = 0
// Hold the runs in their second model step, snapshot, then in their third: what is new in the second
// snapshot is what a run holds per step, the rest of it per run.
let release1
const held1 = new Promise((r) => (release1 = r))
gate = Effect.suspend(() => ++count > 2 * n ? Effect.promise(() => held) : count > n ? Effect.promise(() => held1) : Effect.sleep(1))
const all = Promise.all(Array.from({ length: n }, () => runtime.runPromise(one)))
while (count < 2 * n) await sleep(20)
await sleep(50)
const mid = snap()
release1()
while (count < 3 * n) await sleep(20)
await sleep(50)
const after = snap()
globalThis.gc()
const heapHeld = process.memoryUsage().heapUsed
release()
await all
console.log(`${kind} ${consumer}: ${n} runs held mid-step: heapUsed +${((heapHeld - heapBefore) / n / 1024).toFixed(2)} KB per run`)

const summary = (file) => {
  const s = JSON.parse(readFileSync(file, "utf8"))
  const f = s.snapshot.meta.node_fields, types = s.snapshot.meta.node_types[0]
  const w = f.length, iT = f.indexOf("type"), iN = f.indexOf("name"), iS = f.indexOf("self_size")
  const m = new Map()
  for (let i = 0; i < s.nodes.length; i += w) {
    const t = types[s.nodes[i + iT]]
    const key = t === "object" || t === "closure" ? `${t}:${s.strings[s.nodes[i + iN]]}` : t
    const e = m.get(key) ?? { count: 0, size: 0 }
    e.count++; e.size += s.nodes[i + iS]
    m.set(key, e)
  }
  return m
}
const a = summary(before), b = summary(after)
{
  const load = (file) => JSON.parse(readFileSync(file, "utf8"))
  // PERRUN=1: what was made before the second step and is still held (per run), else what is new since it (per step).
  const m = load(mid), s = load(after), b0 = process.env.PERRUN ? load(before) : undefined
  const f = s.snapshot.meta.node_fields, types = s.snapshot.meta.node_types[0], w = f.length
  const iT = f.indexOf("type"), iN = f.indexOf("name"), iS = f.indexOf("self_size"), iI = f.indexOf("id")
  const seen = new Set()
  for (let i = 0; i < m.nodes.length; i += w) seen.add(m.nodes[i + iI])
  const old = new Set()
  if (b0) for (let i = 0; i < b0.nodes.length; i += w) old.add(b0.nodes[i + iI])
  const loc = new Map()
  const lf = s.snapshot.meta.location_fields.length
  for (let i = 0; i < s.locations.length; i += lf) loc.set(s.locations[i] / w, `${scriptNames.get(s.locations[i + 1]) ?? s.locations[i + 1]}:${s.locations[i + 2]}:${s.locations[i + 3]}`)
  const ef = s.snapshot.meta.edge_fields, et = s.snapshot.meta.edge_types[0], ew = ef.length
  const firstEdge = new Uint32Array(s.nodes.length / w + 1)
  const iE = f.indexOf("edge_count")
  for (let k = 0, e = 0; k < s.nodes.length / w; k++) { firstEdge[k] = e; e += s.nodes[k * w + iE] * ew }
  const edgesOf = (k) => {
    const names = []
    for (let e = firstEdge[k], c = 0; c < s.nodes[k * w + iE]; c++, e += ew) {
      const type = et[s.edges[e]]
      if (type === "context" || type === "property") names.push(s.strings[s.edges[e + 1]])
      else if (type === "internal" && s.strings[s.edges[e + 1]] !== "map") { const to = s.edges[e + 2] / w; if (s.strings[s.nodes[to * w + iN]] !== "system / Map") {} }
    }
    return names.slice(0, 6)
  }
  const byKey = new Map()
  for (let i = 0; i < s.nodes.length; i += w) {
    if (b0 ? !seen.has(s.nodes[i + iI]) || old.has(s.nodes[i + iI]) : seen.has(s.nodes[i + iI])) continue
    const t = types[s.nodes[i + iT]]
    let key = t === "object" || t === "closure" ? `${t}:${s.strings[s.nodes[i + iN]]}` : t
    if (t === "closure") key += ` @${loc.get(i / w) ?? "?"}`
    if (process.env.DETAIL && (t === "object" && (s.strings[s.nodes[i + iN]] === "Object" || s.strings[s.nodes[i + iN]] === "system / Context" || s.strings[s.nodes[i + iN]].endsWith("Impl")) || t === "array")) key += ` {${edgesOf(i / w).join(",")}}`
    const e = byKey.get(key) ?? { count: 0, size: 0 }
    e.count++; e.size += s.nodes[i + iS]
    byKey.set(key, e)
  }
  const rows = [...byKey].map(([k, v]) => [k, v.count / n, v.size / n]).filter((r) => r[1] >= 0.9)
  rows.sort((x, y) => y[2] - x[2])
  let t = 0
  for (const r of rows) t += r[2]
  console.log(`${b0 ? "held since before the second step" : "new since the previous step"}, per run: ${t.toFixed(0)} B`)
  for (const r of rows.slice(0, 70)) console.log(`${r[2].toFixed(0).padStart(7)} B ${r[1].toFixed(2).padStart(6)}  ${r[0]}`)
}
const rows = [...b].map(([k, v]) => [k, (v.count - (a.get(k)?.count ?? 0)) / n, (v.size - (a.get(k)?.size ?? 0)) / n]).filter((r) => r[1] > 0.5 || r[2] > 8)
rows.sort((x, y) => y[2] - x[2])
let total = 0
for (const r of rows) total += r[2]
console.log(`total per run ${total.toFixed(0)} B`)
for (const r of rows.slice(0, 45)) console.log(`${r[2].toFixed(0).padStart(7)} B ${r[1].toFixed(2).padStart(6)}  ${r[0]}`)
await runtime.dispose()

/**
 * W2 A/B: the wire decoders of a base commit (`bench/.build/ab-old`, extracted by `bench/w2-ab.mjs`) against
 * this tree's, interleaved in one process, with the synchronous floors alongside. Not part of `pnpm bench`.
 * Both run on this tree's `effect`, so the base commit must be on the same major version of Effect (4).
 * Usage: node bench/w2-ab.mjs [base-ref] [megabytes] [repetitions]
 */
import { Http, Model, Ndjson, Sse } from "@agentloop/wire"
import { execFileSync } from "node:child_process"
import { gc, median } from "./harness.js"
import {
  asBodyFromChunks,
  bodyOnly,
  sseInCallback,
  type Decode,
  makeByteInputs,
  makeInputs,
  guardedBody,
  ndjsonBytesStream,
  ndjsonStream,
  oursNdjson,
  oursNdjsonBytes,
  oursSse,
  oursSseBytes,
  partsFloor,
  partsInCallback,
  partsStream,
  sseBytesStream,
  sseStream
} from "./decoding.js"

// The base commit's sources, extracted by w2-ab.mjs (so not there for the type checker).
// @ts-expect-error: see above
import * as OldHttpSource from "#old/Http.js"
// @ts-expect-error: see above
import * as OldModelSource from "#old/Model.js"
// @ts-expect-error: see above
import * as OldNdjsonSource from "#old/Ndjson.js"
// @ts-expect-error: see above
import * as OldSseSource from "#old/Sse.js"

const OldHttp = OldHttpSource as typeof Http
const OldModel = OldModelSource as typeof Model
const OldNdjson = OldNdjsonSource as typeof Ndjson
const OldSse = OldSseSource as typeof Sse

const megabytes = Number(process.argv[2] ?? 20)
const repetitions = Number(process.argv[3] ?? 9)
const inputs = makeInputs(megabytes)
const bytes = makeByteInputs(inputs)

type Row = readonly [string, Decode<any>, ReadonlyArray<any>, number]
const groups: Array<{ readonly name: string; readonly rows: ReadonlyArray<Row> }> = [
  {
    name: "SSE text",
    rows: [
      ["sync Sse.Decoder", oursSse, inputs.sse.chunks, inputs.sse.events],
      ["Sse.Decoder in the sink's callback", sseInCallback, inputs.sse.chunks, inputs.sse.events],
      ["body and sink alone", bodyOnly(inputs.sse.events), inputs.sse.chunks, inputs.sse.events],
      ["old Sse.decode", sseStream(OldSse.decode), inputs.sse.chunks, inputs.sse.events],
      ["new Sse.decode", sseStream(Sse.decode), inputs.sse.chunks, inputs.sse.events],
      ["old Sse.decode, Effect.sync consumer", sseStream(OldSse.decode, "effect"), inputs.sse.chunks, inputs.sse.events],
      ["new Sse.decode, Effect.sync consumer", sseStream(Sse.decode, "effect"), inputs.sse.chunks, inputs.sse.events],
      ["old Sse.decode, fromChunks body", sseStream(OldSse.decode, "callback", asBodyFromChunks), inputs.sse.chunks, inputs.sse.events],
      ["new Sse.decode, fromChunks body", sseStream(Sse.decode, "callback", asBodyFromChunks), inputs.sse.chunks, inputs.sse.events]
    ]
  },
  {
    name: "NDJSON text",
    rows: [
      ["sync Ndjson.Decoder", oursNdjson, inputs.ndjson.chunks, inputs.ndjson.events],
      ["old Ndjson.decode", ndjsonStream(OldNdjson.decode), inputs.ndjson.chunks, inputs.ndjson.events],
      ["new Ndjson.decode", ndjsonStream(Ndjson.decode), inputs.ndjson.chunks, inputs.ndjson.events],
      ["old Ndjson.decode, Effect.sync consumer", ndjsonStream(OldNdjson.decode, "effect"), inputs.ndjson.chunks, inputs.ndjson.events],
      ["new Ndjson.decode, Effect.sync consumer", ndjsonStream(Ndjson.decode, "effect"), inputs.ndjson.chunks, inputs.ndjson.events],
      ["old Ndjson.decode, fromChunks body", ndjsonStream(OldNdjson.decode, "callback", asBodyFromChunks), inputs.ndjson.chunks, inputs.ndjson.events],
      ["new Ndjson.decode, fromChunks body", ndjsonStream(Ndjson.decode, "callback", asBodyFromChunks), inputs.ndjson.chunks, inputs.ndjson.events]
    ]
  },
  {
    name: "SSE bytes",
    rows: [
      ["sync TextDecoder + Sse.Decoder", oursSseBytes, bytes.sse, inputs.sse.events],
      ["old Sse.decodeBytes", sseBytesStream(OldSse.decodeBytes), bytes.sse, inputs.sse.events],
      ["new Sse.decodeBytes", sseBytesStream(Sse.decodeBytes), bytes.sse, inputs.sse.events]
    ]
  },
  {
    name: "NDJSON bytes",
    rows: [
      ["sync TextDecoder + Ndjson.Decoder", oursNdjsonBytes, bytes.ndjson, inputs.ndjson.events],
      ["old Ndjson.decodeBytes", ndjsonBytesStream(OldNdjson.decodeBytes), bytes.ndjson, inputs.ndjson.events],
      ["new Ndjson.decodeBytes", ndjsonBytesStream(Ndjson.decodeBytes), bytes.ndjson, inputs.ndjson.events]
    ]
  },
  {
    name: "chat-completions SSE body -> parts",
    rows: [
      ["sync floor", partsFloor, bytes.parts, inputs.sse.events],
      ["old Model.streamParts", partsStream(OldModel.streamParts), bytes.parts, inputs.sse.events],
      ["new Model.streamParts", partsStream(Model.streamParts), bytes.parts, inputs.sse.events],
      ["sync floor in the sink's callback", partsInCallback, bytes.parts, inputs.sse.events]
    ]
  },
  {
    // What the body guard costs by itself: compare the MB/s of old and new with the bare body's (no guard).
    // The part stream's sync floor is the first row for scale only.
    name: "body guard alone (Http.send, streamUntil, no decoding)",
    rows: [
      ["sync floor of the part stream", partsFloor, bytes.parts, inputs.sse.events],
      ["old body guard", guardedBody(OldHttp.send, inputs.sse.events), bytes.parts, inputs.sse.events],
      ["new body guard", guardedBody(Http.send, inputs.sse.events), bytes.parts, inputs.sse.events],
      ["bare body and sink", bodyOnly(inputs.sse.events) as Decode<any>, bytes.parts, inputs.sse.events]
    ]
  }
]

const only = process.env["AB_ONLY"]
/**
 * AB_GC=0: no forced full collection before each timed repetition. A forced `gc()` frees the previous run's
 * fibers and closures, and V8 then discards every optimized function that embedded one of them ("weak
 * objects" deopts, `--trace-deopt`): each repetition re-optimizes the Effect runtime's hot functions, which
 * the synchronous decoders (monomorphic on long-lived classes) barely pay. See bench/notes.md.
 */
const forceGc = process.env["AB_GC"] !== "0"
const settle = () => (forceGc ? gc() : undefined)
/** AB_ROW=<name>: run only the rows whose name contains it (for --trace-gc / --cpu-prof of one contender). */
const row = process.env["AB_ROW"]
const main = async () => {
  console.log(`${megabytes} MB, ${repetitions} repetitions; load: ${execFileSync("uptime").toString().trim()}`)
  for (const group of groups) {
    if (only !== undefined && !group.name.includes(only)) continue
    if (row !== undefined) {
      for (const [name, decode, chunks] of group.rows) {
        if (name !== row) continue
        for (let r = 0; r < repetitions; r++) {
          settle()
          const cpu = process.cpuUsage()
          await decode(chunks)
          const used = process.cpuUsage(cpu)
          console.log(`${group.name} / ${name}: ${((used.user + used.system) / 1000).toFixed(1)} ms CPU`)
        }
      }
      continue
    }
    const samples = group.rows.map(() => [] as Array<number>)
    for (let r = -2; r < repetitions; r++) {
      // Rotate the order each repetition so no contender always runs right after another.
      for (let k = 0; k < group.rows.length; k++) {
        const i = (k + Math.max(r, 0)) % group.rows.length
        const [name, decode, chunks, events] = group.rows[i]!
        settle()
        // CPU time of this process (all its threads, GC helpers included): on a shared machine, wall time
        // also counts the time other jobs held the cores.
        const cpu = process.cpuUsage()
        const count = await decode(chunks)
        const used = process.cpuUsage(cpu)
        const ms = (used.user + used.system) / 1000
        if (count !== events) throw new Error(`${name}: ${count} items, expected ${events}`)
        if (r >= 0) samples[i]!.push(ms)
      }
    }
    const floor = median(samples[0]!)
    console.log(`\n${group.name}`)
    group.rows.forEach(([name], i) => {
      const m = median(samples[i]!)
      const ratios = samples[i]!.map((s, j) => samples[0]![j]! / s).sort((a, b) => a - b)
      console.log(
        `  ${name.padEnd(40)} ${(inputs.megabytes / (m / 1000)).toFixed(0).padStart(5)} MB/s (CPU)  ${((100 * floor) / m).toFixed(0).padStart(4)}% of sync (median of per-rep ratios ${(100 * median(ratios)).toFixed(0)}%, range ${(100 * ratios[0]!).toFixed(0)}–${(100 * ratios[ratios.length - 1]!).toFixed(0)}%; fastest ${((100 * Math.min(...samples[0]!)) / Math.min(...samples[i]!)).toFixed(0)}%)`
      )
    })
  }
  console.log(`\nload after: ${execFileSync("uptime").toString().trim()}`)
}
main()

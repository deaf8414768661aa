/**
 * `pnpm bench`: every workload side by side, in one process. `--quick` shrinks the workloads (a smoke run);
 * `--write` rewrites docs/performance.md with the tables. Targets are reported, never asserted in tests.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem } from "node:os"
import { type Decode, makeByteInputs, makeInputs, ndjsonByteContenders, ndjsonContenders, partContenders, sseByteContenders, sseContenders } from "./decoding.js"
import { fmt, gc, measureSamples, median, now, withPeakHeap } from "./harness.js"
import { contenders, modelContenders, type Setup, streamContenders } from "./loops.js"
import { httpEndpoint, measureEndpoint, stdioEndpoint } from "./mcp.js"
import { makeRuleSet, walk } from "./rules.js"
import { bundleSize, type BundleSize, effect3Bundle, type Platform, thisTree } from "./size.js"
import { asyncIteratorProtocolCost, effect3Floor, effectVersion, inFlightRetained, runDrainEmpty, stepFloor } from "./streamFloor.js"

const quick = process.argv.includes("--quick")
/**
 * `--only=W1,W3` runs just those workloads (while working on one): W1 (with W1S and W1M), W1S, W1M (the
 * model interfaces), W2, W3 (with W3S and W3M), W3S, W3M, W4, W5, B (the bundle size).
 */
const onlyArg = process.argv.find((a) => a.startsWith("--only="))
const only = onlyArg === undefined ? undefined : new Set(onlyArg.slice("--only=".length).split(","))
const wanted = (name: string) => only === undefined || only.has(name)
const write = process.argv.includes("--write")

/** The W1M and W3M comparisons: each consumer with the `pushStep` shortcut against a stream-only model. */
const shortcutPairs: ReadonlyArray<readonly [string, string, string]> = [
  ["`run`: `pushStep`", "agentloop run, model with pushStep", "agentloop run, model as Effect Stream only"],
  ["`backend.stream`: `pushStep`", "agentloop backend.stream, model with pushStep", "agentloop backend.stream, model as Effect Stream only"],
  ["`onEvent`: `pushStep`", "agentloop run + onEvent, model with pushStep", "agentloop run + onEvent, model as Effect Stream only"],
  ["`for await`: `pushStep`", "agentloop for await, model with pushStep", "agentloop for await, model as Effect Stream only"]
]
const out: Array<string> = []
const print = (line = "") => {
  out.push(line)
  console.log(line)
}
const targets: Array<{ readonly name: string; readonly met: boolean; readonly detail: string }> = []
const target = (name: string, met: boolean, detail: string) => targets.push({ name, met, detail })

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  print(`| ${header.join(" | ")} |`)
  print(`|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`)
  for (const row of rows) print(`| ${row.join(" | ")} |`)
  print()
}

// W1 ---------------------------------------------------------------------------------------------------
/**
 * µs per step of each contender, at 20 and at 200 steps: the median of 9 repetitions, or with `fastest` the
 * fastest of 15 (on a shared machine load only adds time, and the median of a loaded run says little).
 */
const measureW1 = async (list: ReadonlyArray<readonly [string, Setup]>, fastest = false) => {
  const results: Record<number, Record<string, number>> = {}
  for (const steps of [20, 200]) {
    results[steps] = {}
    const batch = steps === 20 ? 40 : 4
    const samples = quick ? 3 : fastest ? 15 : 9
    for (const [name, setup] of list) {
      const contender = setup(steps, 0)
      const runs = async () => {
        for (let i = 0; i < batch; i++) await contender.run()
      }
      let batches = 0
      const counted = async () => {
        batches++
        await runs()
      }
      const times = await measureSamples(counted, { warmup: quick ? 1 : 3, runs: samples, warmupMs: quick ? 100 : 1000 })
      const ms = fastest ? Math.min(...times) : median(times)
      const expected = batches * batch * steps
      if (contender.toolRuns() !== expected) throw new Error(`${name}: the tool ran ${contender.toolRuns()} times, expected ${expected}`)
      await contender.dispose()
      results[steps]![name] = (ms * 1000) / (batch * steps)
    }
  }
  return results
}

const w1 = async () => {
  print("### W1: loop overhead (zero-latency model, one `echo` call per step)")
  print()
  print("The fastest of 15 repetitions per contender (the machine is shared; load only adds time).")
  print()
  const results = await measureW1(contenders, true)
  const floor = (steps: number) => results[steps]!["bare async loop (floor)"]!
  table(
    ["contender", "µs/step at 20 steps", "× floor", "µs/step at 200 steps", "× floor", "200 vs 20"],
    contenders.map(([name]) => [
      name,
      fmt(results[20]![name]!, 2),
      `${fmt(results[20]![name]! / floor(20), 1)}×`,
      fmt(results[200]![name]!, 2),
      `${fmt(results[200]![name]! / floor(200), 1)}×`,
      `${fmt(results[200]![name]! / results[20]![name]!, 2)}×`
    ])
  )
  const ours = (steps: number) => results[steps]!["agentloop local backend"]!
  const peers = contenders.map(([name]) => name).filter((n) => n.startsWith("Vercel") || n.startsWith("OpenAI"))
  target("W1 under 10× the bare loop", ours(20) < 10 * floor(20) && ours(200) < 10 * floor(200), `${fmt(ours(20) / floor(20))}× at 20 steps, ${fmt(ours(200) / floor(200))}× at 200`)
  target(
    "W1 `run` at least 60× faster than every peer at both lengths",
    peers.every((p) => 60 * ours(20) <= results[20]![p]! && 60 * ours(200) <= results[200]![p]!),
    peers.map((p) => `${p}: ${fmt(results[20]![p]! / ours(20))}× / ${fmt(results[200]![p]! / ours(200))}× slower`).join("; ")
  )
  target("W1 per-step cost flat in history length", ours(200) / ours(20) < 1.5, `200-step µs/step is ${fmt(ours(200) / ours(20), 2)}× the 20-step one`)
}

const w1Stream = async () => {
  print("### W1 streaming: the same agent, every event consumed (the model streams each step)")
  print()
  print("The fastest of 15 repetitions per contender (the machine is shared; load only adds time).")
  print()
  // agentloop's `run` again, measured next to the streaming contenders, so the ratio sees the same machine load.
  const runName = "agentloop local backend"
  const list: ReadonlyArray<readonly [string, Setup]> = [[`${runName} (run, for reference)`, contenders.find(([n]) => n === runName)![1]], ...streamContenders]
  const results = await measureW1(list, true)
  const run = (steps: number) => results[steps]![list[0]![0]]!
  table(
    ["contender", "µs/step at 20 steps", "× agentloop run", "µs/step at 200 steps", "× agentloop run", "200 vs 20"],
    list.map(([name]) => [
      name,
      fmt(results[20]![name]!, 2),
      `${fmt(results[20]![name]! / run(20), 1)}×`,
      fmt(results[200]![name]!, 2),
      `${fmt(results[200]![name]! / run(200), 1)}×`,
      `${fmt(results[200]![name]! / results[20]![name]!, 2)}×`
    ])
  )
  const ours = (name: string, steps: number) => results[steps]![name]!
  for (const name of [
    "agentloop backend.stream (Stream.runDrain)",
    "agentloop backend.stream, model as Effect Stream",
    "agentloop RunEvents.toAsyncIterable (for await)",
    "agentloop run + onEvent (callbacks)"
  ]) {
    target(
      `W1 stream under 15 µs/step and at most 4× \`run\` at both lengths: ${name}`,
      [20, 200].every((n) => ours(name, n) < 15 && ours(name, n) <= 4 * run(n)),
      `${fmt(ours(name, 20), 1)} µs (${fmt(ours(name, 20) / run(20), 1)}×) at 20 steps, ${fmt(ours(name, 200), 1)} µs (${fmt(ours(name, 200) / run(200), 1)}×) at 200`
    )
    target(`W1 stream flat in history length: ${name}`, ours(name, 200) / ours(name, 20) < 1.5, `200-step µs/step is ${fmt(ours(name, 200) / ours(name, 20), 2)}× the 20-step one`)
  }
  // The floor under any `Stream` of a run's events: running a `Stream` at all, plus the run it streams.
  const floor = await runDrainEmpty(quick ? 3 : 15)
  print(
    `What running a \`Stream\` costs on its own, with no agentloop code (each through \`Effect.runPromise\`, fastest of ${quick ? 3 : 15} batches of 2,000; the Effect 3 line is quoted from before the move, not measured here):`
  )
  print()
  table(
    ["runtime", "`Stream.runDrain(Stream.empty)` (µs)", "`Effect.void` (µs)"],
    [
      [`effect ${effectVersion}`, fmt(floor.streamUs, 1), fmt(floor.effectUs, 1)],
      [effect3Floor.version, fmt(effect3Floor.streamUs, 1), fmt(effect3Floor.effectUs, 1)]
    ]
  )
  for (const steps of [20, 200]) {
    const least = (run(steps) * steps + floor.streamUs) / steps
    target(
      `W1 stream at most 4× \`run\` at ${steps} steps: its floor (the run plus \`Stream.runDrain(Stream.empty)\`) is under the line`,
      least <= 4 * run(steps),
      `at least ${fmt(least, 1)} µs/step = ${fmt(least / run(steps), 1)}× \`run\``
    )
  }
}

// W1M --------------------------------------------------------------------------------------------------
/**
 * µs per step of each contender at 20 and at 200 steps, the contenders taking turns within each round so
 * that all of them see the same machine load (after a warm-up of a second each): the fastest of `rounds`
 * samples (load only adds time) and their median, in wall time, and the fastest in CPU time (the process's
 * user + system time, which does not count the time other jobs held the cores).
 */
const measureInterleaved = async (list: ReadonlyArray<readonly [string, Setup]>, rounds: number) => {
  const results: Record<number, Record<string, { readonly fastest: number; readonly median: number; readonly cpu: number }>> = {}
  for (const steps of [20, 200]) {
    results[steps] = {}
    const batch = steps === 20 ? 40 : 4
    const live = list.map(([name, setup]) => ({ name, contender: setup(steps, 0), samples: [] as Array<number>, cpu: [] as Array<number>, batches: 0 }))
    const runBatch = async (c: (typeof live)[number]) => {
      for (let i = 0; i < batch; i++) await c.contender.run()
      c.batches++
    }
    for (const c of live) {
      const start = now()
      while (now() - start < (quick ? 100 : 1000)) await runBatch(c)
    }
    for (let r = 0; r < rounds; r++) {
      for (const c of r % 2 === 0 ? live : [...live].reverse()) {
        const start = now()
        const cpu = process.cpuUsage()
        await runBatch(c)
        const used = process.cpuUsage(cpu)
        c.samples.push(((now() - start) * 1000) / (batch * steps))
        c.cpu.push((used.user + used.system) / (batch * steps))
      }
    }
    for (const c of live) {
      const expected = c.batches * batch * steps
      if (c.contender.toolRuns() !== expected) throw new Error(`${c.name}: the tool ran ${c.contender.toolRuns()} times, expected ${expected}`)
      await c.contender.dispose()
      results[steps]![c.name] = { fastest: Math.min(...c.samples), median: median(c.samples), cpu: Math.min(...c.cpu) }
    }
    gc()
  }
  return results
}

const w1Models = async () => {
  print("### W1, one model interface: `run` and the streaming consumers over each way a model can answer")
  print()
  const rounds = quick ? 3 : 21
  print(
    `The same agent over a model that offers, beside \`streamStep\` (a \`Stream\` of parts), its parts pushed to a callback (\`pushStep\`, the one optional fast path), or nothing else (stream-only, like every adapter agentloop ships). The contenders take turns within each of ${rounds} rounds (same machine load for all); the fastest sample, then the median.`
  )
  print()
  const results = await measureInterleaved(modelContenders, rounds)
  const at = (name: string, steps: number) => results[steps]![name]!.fastest
  const cpuAt = (name: string, steps: number) => results[steps]![name]!.cpu
  const push = "agentloop run, model with pushStep"
  table(
    ["contender", "µs/step at 20 steps: fastest", "median", "fastest CPU", "× run with pushStep", "at 200 steps: fastest", "median", "fastest CPU", "× run with pushStep"],
    modelContenders.map(([name]) => [
      name,
      fmt(at(name, 20), 2),
      fmt(results[20]![name]!.median, 2),
      fmt(cpuAt(name, 20), 2),
      `${fmt(at(name, 20) / at(push, 20), 2)}×`,
      fmt(at(name, 200), 2),
      fmt(results[200]![name]!.median, 2),
      fmt(cpuAt(name, 200), 2),
      `${fmt(at(name, 200) / at(push, 200), 2)}×`
    ])
  )
  const pairs = shortcutPairs
  print("What each shortcut saves: the stream-only model's µs/step over the shortcut's (fastest samples, wall and CPU time; 1.10× = the shortcut is 10% faster):")
  print()
  const ratio = (of: (name: string, steps: number) => number, stream: string, shortcut: string, steps: number) => `${fmt(of(stream, steps) / of(shortcut, steps), 2)}×`
  table(
    ["consumer: shortcut", "20 steps (wall)", "20 steps (CPU)", "200 steps (wall)", "200 steps (CPU)"],
    pairs.map(([label, shortcut, stream]) => [
      label,
      ratio(at, stream, shortcut, 20),
      ratio(cpuAt, stream, shortcut, 20),
      ratio(at, stream, shortcut, 200),
      ratio(cpuAt, stream, shortcut, 200)
    ])
  )
  const step = await stepFloor(quick ? 3 : 15)
  print(
    `What a two-part step costs to consume on its own, with no agentloop code (one fiber, fastest of ${quick ? 3 : 15} batches of 2,000): as an array (\`Effect.succeed(parts)\`) ${fmt(step.arrayUs, 2)} µs, as a \`Stream\` run to its end (\`Stream.runForEachArray(Stream.fromArray(parts), ...)\`) ${fmt(step.streamUs, 2)} µs.`
  )
  print()
  const streamOnly = "agentloop run, model as Effect Stream only"
  target(
    "W1 `run` with a stream-only model at most 2× `run` with a pushing model (`pushStep`), at both lengths",
    [20, 200].every((n) => at(streamOnly, n) <= 2 * at(push, n)),
    `${fmt(at(streamOnly, 20) / at(push, 20), 2)}× at 20 steps, ${fmt(at(streamOnly, 200) / at(push, 200), 2)}× at 200 (${fmt(at(streamOnly, 20), 2)} vs ${fmt(at(push, 20), 2)} µs, ${fmt(at(streamOnly, 200), 2)} vs ${fmt(at(push, 200), 2)} µs)`
  )
}

// W2 ---------------------------------------------------------------------------------------------------
const w2 = async () => {
  const megabytes = quick ? 5 : 50
  const inputs = makeInputs(megabytes)
  const bytes = makeByteInputs(inputs)
  print(`### W2: decoding ${fmt(inputs.megabytes, 0)} MB in 64 KiB chunks, JSON-parsing every event`)
  print()
  print(
    "MB/s of CPU time (the process's user + system time, GC threads included: on a shared machine, wall time also counts the time other jobs held the cores); the median of interleaved repetitions. Steady state: no forced collection between repetitions (V8 collects on its own, as in a long-lived process). The Stream ratios are also measured with a forced full `gc()` before every repetition, which makes V8 discard the Effect runtime's optimized code (see bench/notes.md)."
  )
  print()
  const run = async <I>(
    label: string,
    reference: string,
    list: ReadonlyArray<readonly [string, Decode<I>]>,
    input: { chunks: ReadonlyArray<I>; events: number },
    forceGc = false
  ) => {
    // Contenders take turns within each repetition, so all of them see the same machine conditions.
    const samples: Record<string, Array<number>> = Object.fromEntries(list.map(([name]) => [name, []]))
    const repetitions = quick ? 3 : 9
    for (let r = -2; r < repetitions; r++) {
      for (const [name, decode] of list) {
        if (forceGc) gc()
        const cpu = process.cpuUsage()
        const count = await decode(input.chunks)
        const used = process.cpuUsage(cpu)
        if (count !== input.events) throw new Error(`${name} decoded ${count} events, expected ${input.events}`)
        if (r >= 0) samples[name]!.push((used.user + used.system) / 1000) // r < 0 is the warm-up
      }
    }
    const rates: Record<string, number> = Object.fromEntries(list.map(([name]) => [name, inputs.megabytes / (median(samples[name]!) / 1000)]))
    const floor = rates[list[0]![0]]!
    if (!forceGc) {
      table([`${label} contender`, "MB/s", `% of ${reference}`], list.map(([name]) => [name, fmt(rates[name]!, 0), `${fmt((100 * rates[name]!) / floor, 0)}%`]))
      print()
    }
    return { rates, floor }
  }
  const measureAll = async (forceGc: boolean) => {
    const sse = await run("SSE", "floor", sseContenders, inputs.sse, forceGc)
    const ndjson = await run("NDJSON", "floor", ndjsonContenders, inputs.ndjson, forceGc)
    const sseBytes = await run("SSE bytes", "sync", sseByteContenders, { chunks: bytes.sse, events: inputs.sse.events }, forceGc)
    const ndjsonBytes = await run("NDJSON bytes", "sync", ndjsonByteContenders, { chunks: bytes.ndjson, events: inputs.ndjson.events }, forceGc)
    const parts = await run("Part stream (chat-completions SSE body)", "floor", partContenders, { chunks: bytes.parts, events: inputs.sse.events }, forceGc)
    const shares = [
      ["SSE text", sse.rates["agentloop Sse.decode (Stream)"]! / sse.rates["agentloop Sse.Decoder"]!],
      ["NDJSON text", ndjson.rates["agentloop Ndjson.decode (Stream)"]! / ndjson.rates["agentloop Ndjson.Decoder"]!],
      ["SSE bytes", sseBytes.rates[sseByteContenders[1]![0]]! / sseBytes.floor],
      ["NDJSON bytes", ndjsonBytes.rates[ndjsonByteContenders[1]![0]]! / ndjsonBytes.floor],
      ["part stream", parts.rates[partContenders[1]![0]]! / parts.floor]
    ] as const
    return { sse, ndjson, shares }
  }
  const steady = await measureAll(false)
  const forced = await measureAll(true)
  const sseShare = steady.sse.rates["agentloop Sse.Decoder"]! / steady.sse.floor
  const ndjsonShare = steady.ndjson.rates["agentloop Ndjson.Decoder"]! / steady.ndjson.floor
  target("W2 at least 90% of the hand-written splitter", sseShare >= 0.9 && ndjsonShare >= 0.9, `SSE ${fmt(100 * sseShare, 0)}%, NDJSON ${fmt(100 * ndjsonShare, 0)}%`)
  const describe = (shares: typeof steady.shares) => shares.map(([name, share]) => `${name} ${fmt(100 * share, 0)}%`).join(", ")
  target("W2 Stream paths at least 90% of the synchronous decoder (steady state)", steady.shares.every(([, share]) => share >= 0.9), describe(steady.shares))
  target(
    "W2 Stream paths at least 90% of the synchronous decoder (each repetition after a forced full GC)",
    forced.shares.every(([, share]) => share >= 0.9),
    describe(forced.shares)
  )
}

// W3 ---------------------------------------------------------------------------------------------------
const measureW3 = async (list: ReadonlyArray<readonly [string, Setup]>, runs: number) => {
  const results: Record<string, { ms: number; kb: number; cpuMs: number }> = {}
  for (const [name, setup] of list) {
    const contender = setup(5, 1)
    await contender.run() // warm up
    const cpu = process.cpuUsage()
    const { ms, peakBytes } = await withPeakHeap(() => Promise.all(Array.from({ length: runs }, () => contender.run())))
    const used = process.cpuUsage(cpu)
    if (contender.toolRuns() !== (runs + 1) * 5) throw new Error(`${name}: the tool ran ${contender.toolRuns()} times, expected ${(runs + 1) * 5}`)
    await contender.dispose()
    results[name] = { ms, kb: peakBytes / runs / 1024, cpuMs: (used.user + used.system) / 1000 }
  }
  return results
}

const w3 = async () => {
  const runs = quick ? 1_000 : 10_000
  print(`### W3: ${runs.toLocaleString("en-US")} concurrent 5-step runs, model latency 1 ms`)
  print()
  const results = await measureW3(contenders, runs)
  table(
    ["contender", "wall time (ms)", "CPU time (ms)", "µs per run", "peak heap per run (KB)"],
    contenders.map(([name]) => [name, fmt(results[name]!.ms, 0), fmt(results[name]!.cpuMs, 0), fmt((results[name]!.ms * 1000) / runs, 1), fmt(results[name]!.kb, 1)])
  )
  const ours = results["agentloop local backend"]!
  const peers = Object.keys(results).filter((n) => n.startsWith("Vercel") || n.startsWith("OpenAI"))
  target(
    "W3 faster and leaner per run than every peer",
    peers.every((p) => ours.ms < results[p]!.ms && ours.kb < results[p]!.kb),
    peers.map((p) => `${p}: ${fmt(results[p]!.ms / ours.ms)}× the time, ${fmt(results[p]!.kb / ours.kb)}× the memory`).join("; ")
  )
  // Scaled to 10,000 runs when --quick runs fewer.
  const runMs = (ours.ms * 10_000) / runs
  target("W3 `run`: 10,000 runs in at most 1.5 s", runMs <= 1500, `${fmt(runMs, 0)} ms (CPU ${fmt((ours.cpuMs * 10_000) / runs, 0)} ms), ${fmt(ours.kb, 1)} KB per run`)
}

const w3Stream = async () => {
  const runs = quick ? 1_000 : 10_000
  print(`### W3 streaming: ${runs.toLocaleString("en-US")} concurrent 5-step runs, model latency 1 ms, every event consumed`)
  print()
  print("CPU time is the process's (user + system) during the run: on a shared machine, wall time adds the time spent waiting for a core.")
  print()
  // agentloop's `run` again, next to the streaming contenders, so that the ratio sees the same machine load.
  const runName = "agentloop local backend"
  const list: ReadonlyArray<readonly [string, Setup]> = [[`${runName} (run, for reference)`, contenders.find(([n]) => n === runName)![1]], ...streamContenders]
  const results = await measureW3(list, runs)
  table(
    ["contender", "wall time (ms)", "CPU time (ms)", "µs per run", "peak heap per run (KB)"],
    list.map(([name]) => [name, fmt(results[name]!.ms, 0), fmt(results[name]!.cpuMs, 0), fmt((results[name]!.ms * 1000) / runs, 1), fmt(results[name]!.kb, 1)])
  )
  for (const name of [
    "agentloop backend.stream (Stream.runDrain)",
    "agentloop backend.stream, model as Effect Stream",
    "agentloop RunEvents.toAsyncIterable (for await)",
    "agentloop run + onEvent (callbacks)"
  ]) {
    const r = results[name]!
    // Scaled to 10,000 runs when --quick runs fewer.
    const ms = (r.ms * 10_000) / runs
    target(`W3 stream: 10,000 runs under 3 s and 30 KB per run: ${name}`, ms < 3000 && r.kb < 30, `${fmt(ms, 0)} ms, ${fmt(r.kb, 1)} KB per run`)
  }
  // What an in-flight Effect `Stream` consumer holds on its own, next to a plain fiber: the memory floor
  // under `backend.stream` with 10,000 runs in flight.
  const held = await inFlightRetained(runs)
  print(
    `What an in-flight consumer holds on its own, with no agentloop code (${runs.toLocaleString("en-US")} at once, after a full GC; the Effect 3 line is quoted from before the move, not measured here):`
  )
  print()
  table(
    ["runtime", "`Stream.runDrain` of a one-element stream waiting on a `Deferred` (KB)", "a fiber waiting on the same (KB)"],
    [
      [`effect ${effectVersion}`, fmt(held.streamKb, 1), fmt(held.fiberKb, 1)],
      [effect3Floor.version, fmt(effect3Floor.streamKb, 1), fmt(effect3Floor.fiberKb, 1)]
    ]
  )
  // And what `for await` costs on its own over a callback, in the same shape, without Effect or agentloop.
  const protocol = await asyncIteratorProtocolCost(runs)
  print(
    `The async-iterator protocol's own memory (no Effect, no agentloop; ${runs.toLocaleString("en-US")} producers of W3's shape, 6 steps 1 ms apart with 6 events each): consumed by a callback ${fmt(protocol.callbacksKb, 1)} KB per run, by \`for await\` over a minimal iterator ${fmt(protocol.forAwaitKb, 1)} KB per run.`
  )
  print()
  const floorRow = results[list.find(([name]) => name.includes("Stream floor"))![0]]!
  target(
    "W3 stream under 3 s and 30 KB per run is reachable with Effect's `Stream` (the run with callbacks, then one `Stream.runDrain` of its events)",
    (floorRow.ms * 10_000) / runs < 3000 && floorRow.kb < 30,
    `the floor row: ${fmt((floorRow.ms * 10_000) / runs, 0)} ms, ${fmt(floorRow.kb, 1)} KB per run`
  )
}

/** W3 over each way a model can answer (see W1M): what the model interfaces cost with 10,000 runs in flight. */
const w3Models = async () => {
  const runs = quick ? 1_000 : 10_000
  print(`### W3, one model interface: ${runs.toLocaleString("en-US")} concurrent 5-step runs, model latency 1 ms, over each way a model can answer`)
  print()
  const results = await measureW3(modelContenders, runs)
  table(
    ["contender", "wall time (ms)", "CPU time (ms)", "µs per run", "peak heap per run (KB)"],
    modelContenders.map(([name]) => [name, fmt(results[name]!.ms, 0), fmt(results[name]!.cpuMs, 0), fmt((results[name]!.ms * 1000) / runs, 1), fmt(results[name]!.kb, 1)])
  )
  const pairs = shortcutPairs
  print("What each shortcut saves: the stream-only model's figure over the shortcut's (1.10× = the shortcut is 10% cheaper):")
  print()
  table(
    ["consumer: shortcut", "wall time", "CPU time", "peak heap per run"],
    pairs.map(([label, shortcut, stream]) => [
      label,
      `${fmt(results[stream]!.ms / results[shortcut]!.ms, 2)}×`,
      `${fmt(results[stream]!.cpuMs / results[shortcut]!.cpuMs, 2)}×`,
      `${fmt(results[stream]!.kb / results[shortcut]!.kb, 2)}×`
    ])
  )
}

// W4 ---------------------------------------------------------------------------------------------------
const w4 = async () => {
  print("### W4: tool-rule solver, 1,000 tools and 1,000 rules (plan + check + record per step)")
  print()
  const start = now()
  const ruleSet = makeRuleSet()
  const compileMs = now() - start
  const steps = 200
  if (walk(ruleSet, steps) !== steps) throw new Error("the walk ended early")
  const samples: Array<number> = []
  for (let i = 0; i < (quick ? 5 : 25); i++) {
    const t = now()
    walk(ruleSet, steps)
    samples.push(((now() - t) * 1000) / steps)
  }
  const perStep = median(samples)
  table(["measure", "value"], [["µs per step", fmt(perStep, 1)], ["validate + compile the rules once (ms)", fmt(compileMs, 1)]])
  target("W4 under 100 µs per step", perStep < 100, `${fmt(perStep, 1)} µs`)
}

// W5 ---------------------------------------------------------------------------------------------------
const w5 = async () => {
  print("### W5: MCP tool-call overhead (one `echo` call per step through our loop vs the SDK client's direct call)")
  print()
  const rows: Array<ReadonlyArray<string>> = []
  let worst = 0
  for (const open of [stdioEndpoint, httpEndpoint]) {
    const endpoint = await open()
    try {
      const result = await measureEndpoint(endpoint, quick)
      const overhead = result.loopUs - result.directUs
      worst = Math.max(worst, overhead / result.directUs)
      rows.push([
        result.transport,
        fmt(result.directUs, 0),
        fmt(result.handlerUs, 0),
        fmt(result.loopUs, 0),
        fmt(overhead, 0),
        `${fmt((100 * overhead) / result.directUs, 0)}%`
      ])
    } finally {
      await endpoint.close()
    }
  }
  table(["transport", "direct SDK call (µs)", "`Mcp.toolkit` handler (µs)", "through our loop (µs per step)", "loop adds (µs)", "loop adds (%)"], rows)
  target("W5 the loop adds under 25% to an MCP call", worst < 0.25, `at most ${fmt(100 * worst, 0)}%`)
}

// B ----------------------------------------------------------------------------------------------------
/** `--base-tree=<dir>`: another checkout (installed and built) whose bundle is measured next to this one's, e.g. the Effect 3 tree. */
const baseTreeArg = process.argv.find((a) => a.startsWith("--base-tree="))
const baseTree = baseTreeArg === undefined ? process.env["BENCH_BASE_TREE"] : baseTreeArg.slice("--base-tree=".length)

const bundles = async () => {
  print("### Bundle size: a minimal agent app for the browser or an edge runtime")
  print()
  print(
    "`bench/size-app.ts` (an agent with one tool, a scripted stream-only model, `AgentBackend.layerLocal`, `RunStore.layerMemory`, `Approval.layerAutoApprove`, one run) bundled by esbuild against a tree's built packages and its `effect`: minified ESM, tree-shaken, `node:` built-ins external (core imports `node:crypto` and `node:os`: an edge runtime with Node compatibility provides them, a browser needs shims)."
  )
  print()
  const rows: Array<readonly [string, Platform, BundleSize]> = []
  for (const platform of ["browser", "neutral"] as const) {
    rows.push(["this tree", platform, await bundleSize(thisTree, platform)])
    if (baseTree !== undefined) rows.push([baseTree, platform, await bundleSize(baseTree, platform)])
  }
  const kb = (bytes: number) => `${fmt(bytes / 1024, 1)} KB`
  table(
    ["tree", "effect", "platform", "minified", "gzip", "brotli", "of which effect (min.)", "@agentloop/core (min.)", "other (min.)", "external"],
    [
      ...rows.map(([tree, platform, size]) => [
        tree,
        size.effectVersion,
        platform,
        `${size.bytes.toLocaleString("en-US")} B`,
        `${size.gzip.toLocaleString("en-US")} B (${kb(size.gzip)})`,
        `${size.brotli.toLocaleString("en-US")} B`,
        kb(size.effect),
        kb(size.core),
        kb(size.other),
        size.external.join(", ")
      ]),
      ...(baseTree === undefined
        ? [
            [
              effect3Bundle.tree,
              effect3Bundle.effectVersion,
              "browser",
              `${effect3Bundle.bytes.toLocaleString("en-US")} B`,
              `${effect3Bundle.gzip.toLocaleString("en-US")} B (${kb(effect3Bundle.gzip)})`,
              `${effect3Bundle.brotli.toLocaleString("en-US")} B`,
              kb(effect3Bundle.effect),
              kb(effect3Bundle.core),
              kb(effect3Bundle.other),
              "node:crypto, node:os"
            ]
          ]
        : [])
    ]
  )
  const ours = rows.find(([tree, platform]) => tree === "this tree" && platform === "browser")![2]
  const base = rows.find(([tree, platform]) => tree !== "this tree" && platform === "browser")?.[2] ?? effect3Bundle
  target(
    `Bundle: the minimal agent app (browser, minified + gzip) on this tree (effect ${ours.effectVersion}) against effect ${base.effectVersion}${baseTree === undefined ? " (quoted)" : ""}`,
    ours.gzip <= base.gzip,
    `${ours.gzip.toLocaleString("en-US")} B against ${base.gzip.toLocaleString("en-US")} B gzip (${fmt((100 * ours.gzip) / base.gzip, 0)}%); minified ${ours.bytes.toLocaleString("en-US")} B against ${base.bytes.toLocaleString("en-US")} B`
  )
}

const main = async () => {
  if ((globalThis as { gc?: unknown }).gc === undefined) console.warn("run with --expose-gc for stable memory numbers (pnpm bench does)")
  // Not part of the tables: how loaded the machine was (stderr, so --write leaves it out).
  console.error(`node ${process.version}, effect ${effectVersion}; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} on ${cpus().length} cores`)
  if (wanted("W1")) await w1()
  if (wanted("W1") || wanted("W1S")) await w1Stream()
  if (wanted("W1") || wanted("W1M")) await w1Models()
  if (wanted("W2")) await w2()
  if (wanted("W3")) await w3()
  if (wanted("W3") || wanted("W3S")) await w3Stream()
  if (wanted("W3") || wanted("W3M")) await w3Models()
  if (wanted("W4")) await w4()
  if (wanted("W5")) await w5()
  if (wanted("B")) await bundles()
  console.error(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  print("### Targets")
  print()
  table(["target", "met", "measured"], targets.map((t) => [t.name, t.met ? "yes" : "**no**", t.detail]))
  if (write) {
    const cpu = cpus()[0]?.model ?? "unknown CPU"
    const doc = [
      "# Performance",
      "",
      "Measured with `pnpm bench` (`bench/bundle.mjs`: `pnpm build`, then the bench compiled by esbuild with every package external, so `@agentloop/*` runs from its built `dist/`, the published code; run with `node --expose-gc`), all workloads in one process; `pnpm bench --write` regenerates this file.",
      `Machine: ${cpus().length} × ${cpu}, ${fmt(totalmem() / 1024 ** 3, 0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
      "",
      "Peers run the same agent with their own idiomatic fake model (Vercel AI SDK 6.0.325 `MockLanguageModelV3`",
      "with `generateText` + `stopWhen`; OpenAI Agents SDK `@openai/agents-core` 0.14.3 with a `Model` and a",
      "`Runner` with tracing off; streaming: AI SDK `streamText` over a plain `LanguageModelV3` whose `doStream` returns a",
      "`ReadableStream`, and agents-core `run(..., { stream: true })` over a `Model` whose `getStreamedResponse` is an async",
      "generator; agentloop's streaming fake pushes each step's parts (`LanguageModel.pushStep`), or, in the rows \"model as Effect Stream\",",
      "is only a `Stream` of parts (`streamStep`, as every shipped adapter); no fake records its calls).",
      "Every contender is set up once and reused, as an application would; the bench",
      "checks that each one ran the tool exactly once per step. Decoders get the same 64 KiB string chunks and",
      "JSON-parse every event. `eventsource-parser` is at 3.1 (pinned while the workspace ran on Node 20; 4.x needs Node 22).",
      "",
      // The hand-written summary of where the targets stand (what a fresh run's tables alone do not say).
      readFileSync(new URL("./summary.md", import.meta.url), "utf8"),
      ...out,
      readFileSync(new URL("./notes.md", import.meta.url), "utf8"),
      "See `bench/` for the code. Numbers vary by machine; the ratios are what the targets are about.",
      ""
    ].join("\n")
    writeFileSync(new URL("../../docs/performance.md", import.meta.url), doc)
    console.log("wrote docs/performance.md")
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})

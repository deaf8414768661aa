/**
 * A/B of agentloop's W1/W3 contenders against a base commit, interleaved in one process so that both sides
 * see the same machine load: `node bench/ab.mjs <base-commit> [W1|W3] [contender substring ...]`.
 * `bench/loops.ts` is bundled twice with esbuild, once over `@agentloop/core`'s sources at the base commit
 * (`git archive`) and once over the working tree's, as shipped JavaScript (no tsx wrappers). Prints the
 * fastest and the median sample of each side and their ratio (new / base); load only adds time, so the
 * fastest samples are the ones to compare on a shared machine.
 */
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync } from "node:fs"
import { loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..")
const out = join(here, ".build", "ab")
const [base = "HEAD", workload = "W1", ...filters] = process.argv.slice(2)

rmSync(out, { recursive: true, force: true })
mkdirSync(join(out, "base"), { recursive: true })
execFileSync("sh", ["-c", `git -C "${root}" archive "${base}" packages/core | tar -x -C "${join(out, "base")}"`])
const bundle = async (name, coreDir) => {
  await build({
    entryPoints: [join(here, "loops.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: join(out, `${name}.mjs`),
    external: ["effect", "@effect/*", "ai", "ai/*", "@openai/*", "zod"],
    alias: { "@agentloop/core": join(coreDir, "packages/core/src/index.ts") },
    logLevel: "warning"
  })
  return import(pathToFileURL(join(out, `${name}.mjs`)).href)
}
const sides = { base: await bundle("base", join(out, "base")), new: await bundle("new", root) }

const now = () => Number(process.hrtime.bigint()) / 1e6
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const gc = () => globalThis.gc?.()
const pick = (mod) =>
  [...mod.contenders, ...mod.streamContenders].filter(
    ([name]) => name.startsWith("agentloop") && (filters.length === 0 || filters.some((f) => name.includes(f)))
  )
const names = pick(sides.base).map(([name]) => name)
console.log(`base ${base}, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`)

if (workload === "W1") {
  for (const steps of [20, 200]) {
    const batch = steps === 20 ? 40 : 4
    const rounds = Number(process.env.AB_ROUNDS ?? 15)
    const live = []
    for (const name of names) {
      for (const side of ["base", "new"]) {
        const setup = pick(sides[side]).find(([n]) => n === name)[1]
        live.push({ name, side, contender: setup(steps, 0), samples: [], cpu: [] })
      }
    }
    // Warm-up: each side for at least a second.
    for (const c of live) {
      const start = now()
      while (now() - start < 1000) for (let i = 0; i < batch; i++) await c.contender.run()
    }
    for (let r = 0; r < rounds; r++) {
      for (const c of r % 2 === 0 ? live : [...live].reverse()) {
        const start = now()
        const cpu = process.cpuUsage()
        for (let i = 0; i < batch; i++) await c.contender.run()
        const used = process.cpuUsage(cpu)
        c.samples.push(((now() - start) * 1000) / (batch * steps))
        c.cpu.push((used.user + used.system) / (batch * steps))
      }
    }
    for (const c of live) await c.contender.dispose()
    console.log(`\nW1, ${steps} steps (µs/step: fastest, median of ${rounds}; wall time, then CPU time)`)
    for (const name of names) {
      for (const key of ["samples", "cpu"]) {
      const [b, n] = ["base", "new"].map((side) => live.find((c) => c.name === name && c.side === side)[key])
      console.log(
        `${name.padEnd(52)} base ${Math.min(...b).toFixed(2).padStart(8)} ${median(b).toFixed(2).padStart(8)}   new ${Math.min(...n).toFixed(2).padStart(8)} ${median(n).toFixed(2).padStart(8)}   new/base ${(Math.min(...n) / Math.min(...b)).toFixed(3)} (median ${(median(n) / median(b)).toFixed(3)}) ${key === "cpu" ? "cpu" : "wall"}`
      )
      }
    }
  }
} else {
  const runs = Number(process.env.AB_RUNS ?? 10_000)
  const rounds = Number(process.env.AB_ROUNDS ?? 2)
  for (let r = 0; r < rounds; r++) {
    for (const name of names.filter((n) => !n.includes("model as Effect Stream") || process.env.AB_ALL)) {
      for (const side of r % 2 === 0 ? ["base", "new"] : ["new", "base"]) {
        const contender = pick(sides[side]).find(([n]) => n === name)[1](5, 1)
        await contender.run()
        gc()
        gc()
        const heapBase = process.memoryUsage().heapUsed
        let peak = heapBase
        const timer = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage().heapUsed)
        }, 2)
        const start = now()
        const cpu = process.cpuUsage()
        await Promise.all(Array.from({ length: runs }, () => contender.run()))
        const ms = now() - start
        const used = process.cpuUsage(cpu)
        clearInterval(timer)
        peak = Math.max(peak, process.memoryUsage().heapUsed)
        await contender.dispose()
        console.log(`W3 ${side.padEnd(4)} ${name.padEnd(52)} ${ms.toFixed(0).padStart(7)} ms (cpu ${((used.user + used.system) / 1000).toFixed(0).padStart(7)} ms) ${((peak - heapBase) / runs / 1024).toFixed(1).padStart(7)} KB/run  load ${loadavg()[0].toFixed(2)}`)
      }
    }
  }
}

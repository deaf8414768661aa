/**
 * A/B of agentloop's W1/W3 contenders, interleaved in one process so that both sides see the same machine
 * load: `node --expose-gc bench/ab.mjs <base> [W1|W3] [contender substring ...]`. Prints the fastest and the
 * median sample of each side and their ratio (new / base); load only adds time, so the fastest samples are
 * the ones to compare on a shared machine. Two kinds of base:
 *
 * - a directory: another checkout of this repository with its dependencies installed and its packages
 *   built (`pnpm install && pnpm build` there), e.g. the Effect 3 tree: `node --expose-gc bench/ab.mjs
 *   /work/e3tree W1 "local backend"`. Each side is its own tree's `bench/loops.ts`, bundled by esbuild with
 *   every package external and resolved in that tree, so each side runs its own packages' built dist/, its
 *   own `effect` and its own peers, as `pnpm bench` does (this tree must be built too: `pnpm build`).
 *   Contenders are matched by name; those only one side has are left out.
 * - a commit: `@agentloop/core`'s sources at that commit (`git archive`) against this tree's, both bundled
 *   from source with this tree's `bench/loops.ts` and this tree's `effect` (so both must be on the same
 *   major version of Effect).
 */
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs"
import { loadavg } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..")
const out = join(here, ".build", "ab")
const [base = "HEAD", workload = "W1", ...filters] = process.argv.slice(2)
const treeMode = existsSync(base) && statSync(base).isDirectory()
if (Number(process.versions.node.split(".")[0]) < 22) console.warn(`node ${process.version}: Effect 4 needs Node 22.19 or later; run with the workspace's node (pnpm exec node, or node_modules/.bin on PATH)`)

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

/**
 * Every bare import left external, but as the absolute file URL it resolves to from the tree's `bench/`
 * (with the same conditions Node applies), so the bundle loads that tree's packages wherever it is written.
 */
const externalsIn = () => ({
  name: "externals-in-tree",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === "resolving" || args.path.startsWith("node:")) return args.path.startsWith("node:") ? { path: args.path, external: true } : undefined
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: "resolving" })
      if (resolved.errors.length > 0) return { errors: resolved.errors }
      return { path: pathToFileURL(resolved.path).href, external: true }
    })
  }
})

/** One tree's bench/loops.ts over its own built packages (tree mode). */
const bundleTree = async (name, tree) => {
  if (!existsSync(join(tree, "packages/core/dist/index.js"))) throw new Error(`${tree}: packages/core/dist is missing (run pnpm build there)`)
  await build({
    entryPoints: [join(tree, "bench/loops.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: join(out, `${name}.mjs`),
    plugins: [externalsIn()],
    logLevel: "warning"
  })
  return import(pathToFileURL(join(out, `${name}.mjs`)).href)
}

/** This tree's bench/loops.ts over `@agentloop/core`'s sources in `coreDir` (commit mode). */
const bundleSources = async (name, coreDir) => {
  await build({
    entryPoints: [join(here, "loops.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: join(out, `${name}.mjs`),
    external: ["effect", "effect/*", "@effect/*", "ai", "ai/*", "@openai/*", "zod"],
    alias: { "@agentloop/core": join(coreDir, "packages/core/src/index.ts") },
    logLevel: "warning"
  })
  return import(pathToFileURL(join(out, `${name}.mjs`)).href)
}

let sides
if (treeMode) {
  sides = { base: await bundleTree("base", resolve(base)), new: await bundleTree("new", root) }
} else {
  mkdirSync(join(out, "base-src"), { recursive: true })
  execFileSync("sh", ["-c", `git -C "${root}" archive "${base}" packages/core | tar -x -C "${join(out, "base-src")}"`])
  sides = { base: await bundleSources("base", join(out, "base-src")), new: await bundleSources("new", root) }
}

const now = () => Number(process.hrtime.bigint()) / 1e6
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const gc = () => globalThis.gc?.()
const pick = (mod) =>
  [...mod.contenders, ...mod.streamContenders, ...(mod.modelContenders ?? [])].filter(
    ([name]) => name.startsWith("agentloop") && (filters.length === 0 || filters.some((f) => name.includes(f)))
  )
const newNames = new Set(pick(sides.new).map(([name]) => name))
const names = pick(sides.base)
  .map(([name]) => name)
  .filter((name) => newNames.has(name))
console.log(`base ${base} (${treeMode ? "tree: its own dist and effect" : "commit: core sources"}), new ${root}; node ${process.version}; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`)
console.log(`contenders on both sides: ${names.join("; ") || "none"}`)

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

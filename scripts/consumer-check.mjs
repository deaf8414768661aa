/**
 * `pnpm consumer-check`: what a user of the published packages gets, checked from outside the workspace.
 *
 * 1. Builds every package (`pnpm build`) and packs every public one under packages/ (`pnpm pack`, which
 *    rewrites `workspace:` ranges to versions); fails if a packed manifest still says `workspace:`.
 * 2. Runs publint (strict) and @arethetypeswrong/cli (profile `esm-only`: the packages ship ESM only, so
 *    CommonJS `require` resolution is out of scope) on every tarball, on `.` and on every module subpath.
 * 3. Runs the README's install line literally (`npm install @agentloop/core effect`, with every tarball in
 *    place of its package name) in a fresh project in the OS temp dir, against the registry: `effect` is
 *    whatever the registry's current Effect 4 release is, not the workspace's pin, so the next drift is caught
 *    here. Fails on any peer-dependency warning (ERESOLVE, "overriding peer dependency", "conflicting peer"),
 *    runs a second `npm install` that must agree (exit 0, no warning, package.json unchanged), and asserts one
 *    copy of `effect` (and of each `@agentloop/*`) in node_modules: effect and @effect/* are peer dependencies.
 * 4. Runs an ESM script with plain `node` (no TypeScript loader): an agent through the scripted model, with an
 *    approval that suspends and resumes, then through `@agentloop/heroku`'s chat model against the fake
 *    Heroku Inference server over real HTTP; it also imports every package.
 * 5. Type-checks a TypeScript consumer file with tsc under `moduleResolution: "nodenext"` and `"bundler"`.
 *
 * Options: `--keep` leaves the temp project in place (its path is printed).
 * New packages are picked up automatically: every directory under packages/ whose package.json is not private.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const keep = process.argv.includes("--keep")

const started = Date.now()
const step = (message) => console.log(`consumer-check [${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`)

/** The workspace's own environment minus what would leak into an outside project (the source condition, pnpm's npm_* settings). */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== "NODE_OPTIONS" && !key.toLowerCase().startsWith("npm_"))
)

const run = (command, args, options = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? root, env: options.env ?? cleanEnv, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(" ")} (in ${options.cwd ?? root}) exited with ${code}:\n${output}`))
    })
  })

/** Runs `tasks` at most `limit` at a time (the machine is shared). */
const pool = async (items, limit, task) => {
  const results = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

const packages = readdirSync(join(root, "packages"))
  .map((dir) => ({ dir: join(root, "packages", dir), manifest: join(root, "packages", dir, "package.json") }))
  .filter(({ manifest }) => existsSync(manifest))
  .map(({ dir, manifest }) => ({ dir, pkg: JSON.parse(readFileSync(manifest, "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true)
if (packages.length === 0) throw new Error("no public package under packages/")

const work = mkdtempSync(join(tmpdir(), "agentloop-consumer-"))
const tarballs = join(work, "tarballs")
const project = join(work, "project")
mkdirSync(tarballs)
mkdirSync(project)

try {
  step(`building (${packages.length} packages: ${packages.map(({ pkg }) => pkg.name).join(", ")})`)
  await run("pnpm", ["build"], { env: process.env })

  step("packing")
  const packed = await pool(packages, 3, async ({ dir, pkg }) => {
    const before = new Set(readdirSync(tarballs))
    await run("pnpm", ["pack", "--pack-destination", tarballs], { cwd: dir, env: process.env })
    const file = readdirSync(tarballs).find((name) => !before.has(name) && name.startsWith(pkg.name.replace("@", "").replace("/", "-")))
    if (file === undefined) throw new Error(`pnpm pack left no tarball for ${pkg.name}`)
    const manifest = await run("tar", ["-xzf", join(tarballs, file), "-O", "package/package.json"])
    if (manifest.includes("workspace:")) throw new Error(`${pkg.name}: the packed package.json still has a workspace: range`)
    const listing = await run("tar", ["-tzf", join(tarballs, file)])
    const modules = listing
      .split("\n")
      .map((line) => /^package\/dist\/([A-Za-z0-9_]+)\.js$/.exec(line.trim())?.[1])
      .filter((name) => name !== undefined && name !== "index")
    if (!listing.includes("package/dist/index.d.ts")) throw new Error(`${pkg.name}: the tarball has no dist/index.d.ts`)
    return { name: pkg.name, file: join(tarballs, file), modules }
  })

  step("publint and attw on every tarball")
  const bin = (name) => join(root, "node_modules", ".bin", name)
  await pool(packed, 3, async ({ name, file, modules }) => {
    await run(bin("publint"), ["run", file, "--strict"]).catch((error) => {
      throw new Error(`publint: ${name}\n${error.message}`)
    })
    const entrypoints = modules.length > 0 ? ["--include-entrypoints", ...modules.map((m) => `./${m}`)] : []
    await run(bin("attw"), [file, "--profile", "esm-only", "--format", "ascii", "--no-color", ...entrypoints]).catch((error) => {
      throw new Error(`attw: ${name}\n${error.message}`)
    })
  })

  // What `npm install effect` picks today: the registry's newest Effect 4 release (not the workspace's pin).
  const registryEffect = JSON.parse(await run("npm", ["view", "effect@^4", "version", "--json"])).flat().at(-1)
  step(`the README's install line, literally, into ${project} (the registry's effect ${registryEffect})`)
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify(
      {
        name: "agentloop-consumer",
        private: true,
        type: "module",
        // @types/pg: @effect/sql-pg's declarations import "pg" (type-checked here: skipLibCheck is off, so our
        // own .d.ts files are checked too).
        devDependencies: { "@types/node": "^24.10.0", "@types/pg": "^8.11.0" }
      },
      null,
      2
    )
  )
  // The README: `npm install @agentloop/core effect` (and the other packages "the same way"); each tarball stands
  // in for its package name, every other package (effect and the peers npm 7+ adds) comes from the registry.
  const core = packed.find((p) => p.name === "@agentloop/core")
  const installLine = ["install", core.file, ...packed.filter((p) => p !== core).map((p) => p.file), "effect"]
  const peerWarning = /ERESOLVE|overriding peer dependency|conflicting peer|peer dep(endency)? missing|unmet peer|invalid: /i
  const npmInstall = async (args, what) => {
    const output = await run("npm", [...args, "--no-audit", "--no-fund"], { cwd: project })
    const warnings = output.split("\n").filter((line) => peerWarning.test(line))
    if (warnings.length > 0) throw new Error(`${what} printed peer-dependency warnings:\n${warnings.join("\n")}`)
    return output
  }
  await npmInstall(installLine, "npm install @agentloop/core effect")
  const manifestAfterFirst = readFileSync(join(project, "package.json"), "utf8")
  const writtenEffect = JSON.parse(manifestAfterFirst).dependencies.effect
  if (!/^\^?4\./.test(writtenEffect)) throw new Error(`npm wrote effect ${writtenEffect} into package.json, not an Effect 4 range`)
  step("a second npm install agrees")
  await npmInstall(["install"], "a second npm install")
  if (readFileSync(join(project, "package.json"), "utf8") !== manifestAfterFirst) throw new Error("the second npm install changed package.json")

  step("one copy of effect and of each @agentloop package")
  const copies = new Map()
  const scan = (modulesDir) => {
    if (!existsSync(modulesDir)) return
    for (const entry of readdirSync(modulesDir)) {
      if (entry.startsWith(".")) continue
      const names = entry.startsWith("@") ? readdirSync(join(modulesDir, entry)).map((sub) => `${entry}/${sub}`) : [entry]
      for (const name of names) {
        const dir = join(modulesDir, name)
        const manifest = join(dir, "package.json")
        if (existsSync(manifest)) {
          const { version } = JSON.parse(readFileSync(manifest, "utf8"))
          copies.set(name, [...(copies.get(name) ?? []), `${version} at ${dir}`])
        }
        scan(join(dir, "node_modules"))
      }
    }
  }
  scan(join(project, "node_modules"))
  for (const name of ["effect", ...packed.map((p) => p.name)]) {
    const found = copies.get(name) ?? []
    if (found.length !== 1) throw new Error(`expected one copy of ${name}, found ${found.length}:\n${found.join("\n")}`)
  }
  if (!copies.get("effect")[0].startsWith(`${registryEffect} `)) throw new Error(`effect: expected the registry's ${registryEffect}, got ${copies.get("effect")[0]}`)

  step("plain node runs an agent (scripted model, then @agentloop/heroku against the fake server)")
  writeFileSync(join(project, "agent.mjs"), agentScript(packed.map((p) => p.name)))
  const output = await run(process.execPath, ["agent.mjs"], { cwd: project })
  if (!output.includes("consumer: ok")) throw new Error(`agent.mjs did not finish:\n${output}`)
  process.stdout.write(output)

  step("tsc: nodenext and bundler")
  writeFileSync(join(project, "consumer.ts"), consumerFile(packed.map((p) => p.name)))
  const tsconfig = (module, moduleResolution) => ({
    compilerOptions: {
      target: "ES2022",
      // effect's own declarations name DOM types (Transferable, Storage, Crypto).
      lib: ["ES2022", "DOM"],
      module,
      moduleResolution,
      types: ["node"],
      strict: true,
      noEmit: true,
      skipLibCheck: false
    },
    files: ["consumer.ts"]
  })
  writeFileSync(join(project, "tsconfig.nodenext.json"), JSON.stringify(tsconfig("NodeNext", "NodeNext"), null, 2))
  writeFileSync(join(project, "tsconfig.bundler.json"), JSON.stringify(tsconfig("ESNext", "Bundler"), null, 2))
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
  await Promise.all([
    run(process.execPath, [tsc, "-p", "tsconfig.nodenext.json"], { cwd: project }),
    run(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], { cwd: project })
  ])

  step(`ok: ${packed.length} packages packed, linted, installed, run and type-checked`)
} finally {
  if (keep) console.log(`consumer-check: kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}

function agentScript(names) {
  return `// Written by scripts/consumer-check.mjs: plain JavaScript, run with plain node.
import assert from "node:assert/strict"
import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit } from "@agentloop/core"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel } from "@agentloop/testing"
import { FetchHttpClient } from "effect/http"
import { Effect, Layer, Redacted, Schema } from "effect"

for (const name of ${JSON.stringify(names)}) await import(name)

const GetWeather = Tool.make("get_weather", {
  description: "Current weather for a city.",
  parameters: { city: Schema.String },
  success: Schema.String
})
const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const toolkit = Toolkit.make(GetWeather, Deploy)
const agent = Agent.make({ name: "consumer", toolkit })
const calls = []
const handlers = toolkit.toLayer({
  get_weather: ({ city }) => Effect.sync(() => (calls.push("get_weather:" + city), city + ": 5C")),
  deploy: ({ version }) => Effect.sync(() => (calls.push("deploy:" + version), "deployed " + version))
})
const backendOver = (model, approvals) =>
  AgentBackend.layerLocal(agent).pipe(Layer.provide(Layer.mergeAll(model, approvals, RunStore.layerMemory, handlers)))

// The scripted model: the gated deploy suspends the run; approving it resumes and completes it.
const scripted = ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "1.0.0" }), ScriptedModel.text("Deployed.")])
const released = await Effect.runPromise(
  Effect.gen(function* () {
    const backend = yield* AgentBackend.AgentBackend
    const outcome = yield* backend.run({ input: "Ship 1.0.0" })
    assert.equal(outcome._tag, "Suspended")
    assert.deepEqual(calls, [])
    return yield* backend.resume(outcome.runId, outcome.pending.map((p) => Approval.approve(p, { by: "consumer" })))
  }).pipe(Effect.provide(backendOver(scripted.layer, Approval.layerSuspend())))
)
assert.equal(released._tag, "Completed")
assert.equal(released.text, "Deployed.")
assert.deepEqual(calls, ["deploy:1.0.0"])

// @agentloop/heroku's chat model against the fake Heroku Inference server, over real HTTP.
const weather = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const fake = yield* FakeHerokuInference.make({
        chat: [ScriptedModel.toolCall("get_weather", { city: "Oslo" }), ScriptedModel.text("5C in Oslo.")]
      })
      const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      const outcome = yield* Effect.flatMap(AgentBackend.AgentBackend, (backend) => backend.run({ input: "Weather in Oslo?" })).pipe(
        Effect.provide(backendOver(model, Approval.layerAutoApprove))
      )
      assert.equal(fake.requests.length, 2)
      assert.equal(fake.requests[0].headers["authorization"], "Bearer " + fake.key)
      return outcome
    })
  )
)
assert.equal(weather._tag, "Completed")
assert.equal(weather.text, "5C in Oslo.")
assert.deepEqual(calls, ["deploy:1.0.0", "get_weather:Oslo"])
console.log("consumer: ok (" + ${JSON.stringify(names.length)} + " packages imported; scripted run suspended, approved, completed; heroku chat model ran a tool against the fake server)")
`
}

function consumerFile(names) {
  const namespaces = names.map((name, i) => `import * as P${i} from "${name}"`).join("\n")
  return `// Written by scripts/consumer-check.mjs: type-checked under moduleResolution nodenext and bundler.
import { Agent, AgentBackend, Approval, RunStore, Tool, Toolkit, ToolRule } from "@agentloop/core"
import * as ApprovalModule from "@agentloop/core/Approval"
import { ChatModel } from "@agentloop/heroku"
import { FakeHerokuInference, ScriptedModel } from "@agentloop/testing"
import { FetchHttpClient } from "effect/http"
import { Effect, Layer, Redacted, Schema } from "effect"
${namespaces}

export const everyPackage = [${names.map((_, i) => `P${i}`).join(", ")}] as const

const Deploy = Tool.make("deploy", {
  description: "Deploy a version.",
  parameters: { version: Schema.String },
  success: Schema.String,
  requiresApproval: true
})
const toolkit = Toolkit.make(Deploy)
const agent = Agent.make({ name: "consumer", toolkit, rules: [ToolRule.terminal("deploy")] })
const handlers = toolkit.toLayer({ deploy: ({ version }) => Effect.succeed(\`deployed \${version}\`) })

export const program: Effect.Effect<string, unknown, AgentBackend.AgentBackend> = Effect.gen(function* () {
  const backend = yield* AgentBackend.AgentBackend
  const outcome = yield* backend.run({ input: "Ship 1.0.0" })
  if (outcome._tag === "Suspended") {
    const decisions = outcome.pending.map((p) => Approval.approve(p, { by: "me" }))
    const resumed = yield* backend.resume(outcome.runId, decisions)
    return resumed._tag
  }
  return outcome._tag
})

export const scripted = AgentBackend.layerLocal(agent).pipe(
  Layer.provide(
    Layer.mergeAll(
      ScriptedModel.make([ScriptedModel.toolCall("deploy", { version: "1.0.0" })]).layer,
      ApprovalModule.layerSuspend(),
      RunStore.layerMemory,
      handlers
    )
  )
)

export const overHeroku = Effect.scoped(
  Effect.gen(function* () {
    const fake = yield* FakeHerokuInference.make({ chat: [ScriptedModel.text("hi")] })
    const model = ChatModel.layer({ url: fake.url, key: Redacted.make(fake.key), model: fake.model }).pipe(
      Layer.provide(FetchHttpClient.layer)
    )
    const layer = AgentBackend.layerLocal(agent).pipe(
      Layer.provide(Layer.mergeAll(model, Approval.layerAutoApprove, RunStore.layerMemory, handlers))
    )
    return yield* program.pipe(Effect.provide(layer))
  })
)

// @ts-expect-error: a wrong argument type is still an error through the published declarations
Tool.make("bad", { description: 1 })
`
}

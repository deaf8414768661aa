/**
 * docs/getting-started.md and docs/testing.md, kept true: every program under examples/getting-started/ runs
 * offline as its own process (the suspend and resume steps as two processes sharing only the run files) and
 * prints what the page says; every code block the pages label with a file's path is that file, verbatim. The
 * `*.test.ts` files there run in the test suite itself (vitest.config.ts includes examples/).
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { FakeHerokuInference, ScriptedModel } from "@agentloop/testing"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const examples = join(root, "examples", "getting-started")
const tsx = join(root, "node_modules", ".bin", "tsx")
const work = mkdtempSync(join(tmpdir(), "agentloop-getting-started-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** The variables real-model.ts picks a model by: unset, so every run here stays offline unless a test sets them. */
const modelVariables = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "INFERENCE_URL", "INFERENCE_KEY", "INFERENCE_MODEL_ID", "LOCAL_MODEL_URL", "LOCAL_MODEL"]
const offlineEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !modelVariables.includes(name)))

/** Runs one example as its own process in `work` (its run files land there); rejects with its stderr. */
const runWith = (env: Record<string, string>, file: string, ...args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(tsx, [join(examples, file), ...args], { cwd: work, encoding: "utf8", timeout: 60_000, env: { ...offlineEnv, ...env } }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${file}: ${error.message}\n${stderr}`))
    )
  )
const run = (file: string, ...args: ReadonlyArray<string>) => runWith({}, file, ...args)

/** real-model.ts pointed at the fake server through `env(fake)`: its output and what the fake was sent. */
const realModelAgainstFake = (env: (fake: FakeHerokuInference.FakeHerokuInference) => Record<string, string>, key?: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* FakeHerokuInference.make({
          ...(key === undefined ? {} : { key }),
          chat: [ScriptedModel.toolCall("deploy", { version: "4.2.0" }), ScriptedModel.text("4.2.0 is live.")]
        })
        const out = yield* Effect.promise(() => runWith(env(fake), "real-model.ts"))
        return { out, requests: fake.requests }
      })
    )
  )

const programs = readdirSync(examples).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))

/** The last lines every run of the release agent prints: approved, deployed, answered. */
const completed = ["  approved deploy by", "  result deploy: deployed 4.2.0", "run completed (end_turn) after 2 steps: 4.2.0 is live."]

describe("examples/getting-started", () => {
  it("has a check below for every program in it", () => {
    expect(programs.sort()).toEqual(["first-agent.ts", "heroku-fake.ts", "real-model.ts", "resume.ts", "suspend.ts"])
  })

  it("first-agent.ts fits in one screen, and prints the run's events and the answer", async () => {
    expect(readFileSync(join(examples, "first-agent.ts"), "utf8").trimEnd().split("\n").length).toBeLessThanOrEqual(40)
    const out = await run("first-agent.ts")
    expect(out).toContain("approval requested for deploy (call_1_1)")
    expect(out).toContain("run suspended: 1 approval(s) pending")
    for (const line of completed) expect(out).toContain(line)
    expect(out.trimEnd().endsWith("answer: 4.2.0 is live.")).toBe(true)
  }, 120_000)

  it("suspend.ts stores the run and exits; resume.ts, another process, approves and completes it", async () => {
    const first = await run("suspend.ts")
    expect(first).toContain("run suspended: 1 approval(s) pending")
    const runId = /npx tsx resume\.ts (run_[\w-]+)/.exec(first)?.[1]
    expect(runId).toBeDefined()
    expect(readdirSync(join(work, "runs"))).toContain(`${runId}.json`)
    expect(first).not.toContain("result deploy")

    const second = await run("resume.ts", runId!)
    expect(second).toContain('pending: deploy({"version":"4.2.0"})')
    expect(second).toContain(`run ${runId} resumed`)
    for (const line of completed) expect(second).toContain(line)
    // The run is over: a third process cannot resume it again.
    await expect(run("resume.ts", runId!)).rejects.toThrow(/cannot be resumed: its status is "completed"/)
  }, 180_000)

  it("heroku-fake.ts runs the same program over HTTP against the fake server", async () => {
    const out = await run("heroku-fake.ts")
    for (const line of completed) expect(out).toContain(line)
    expect(out).toContain("the fake answered 2 requests (POST /v1/chat/completions, POST /v1/chat/completions)")
  }, 120_000)

  it("real-model.ts, offline, says which variables pick a model", async () => {
    expect(await run("real-model.ts")).toBe("No model configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, INFERENCE_URL or LOCAL_MODEL_URL.\n")
  }, 120_000)

  it("real-model.ts on any OpenAI-compatible server by its base URL (LOCAL_MODEL_URL), here the fake one", async () => {
    const { out, requests } = await realModelAgainstFake((fake) => ({ LOCAL_MODEL_URL: fake.url, LOCAL_MODEL: "qwen3" }), "local")
    for (const line of completed) expect(out).toContain(line)
    expect(requests.map((r) => [r.path, r.headers["authorization"], r.body.model])).toEqual([
      ["/v1/chat/completions", "Bearer local", "qwen3"],
      ["/v1/chat/completions", "Bearer local", "qwen3"]
    ])
  }, 120_000)

  it("real-model.ts on Heroku's config vars (INFERENCE_URL, INFERENCE_KEY, INFERENCE_MODEL_ID), here the fake's", async () => {
    const { out, requests } = await realModelAgainstFake((fake) => ({ INFERENCE_URL: fake.url, INFERENCE_KEY: fake.key, INFERENCE_MODEL_ID: fake.model }))
    for (const line of completed) expect(out).toContain(line)
    expect(requests).toHaveLength(2)
  }, 120_000)
})

/** The ```ts blocks of a page whose first line names a file (`// examples/getting-started/x.ts: ...`). */
const labelledBlocks = (page: string) =>
  [...readFileSync(join(root, page), "utf8").matchAll(/```ts\n(\/\/ (examples\/[\w./-]+\.ts)[^\n]*\n[\s\S]*?)```/g)].map((match) => ({
    code: match[1]!,
    file: match[2]!
  }))

/** The anchors GitHub gives a page's headings. */
const headingSlugs = (markdown: string) =>
  [...markdown.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\p{L}\p{N} -]/gu, "").replace(/ /g, "-"))

describe.each(["docs/getting-started.md", "docs/testing.md"])("%s", (page) => {
  it("shows the example files verbatim", () => {
    const blocks = labelledBlocks(page)
    expect(blocks.length).toBeGreaterThan(0)
    for (const { code, file } of blocks) expect(code, `${page}: the block of ${file}`).toBe(readFileSync(join(root, file), "utf8"))
  })

  it("links only to files in the repository, and to headings they have", () => {
    const text = readFileSync(join(root, page), "utf8")
    for (const [, target, anchor] of text.matchAll(/\]\(((?:\.\.\/|\.\/)?[\w./-]+\.(?:md|ts))?(?:#([\w-]+))?\)/g)) {
      const linked = target === undefined ? text : readFileSync(join(root, "docs", target), "utf8")
      if (anchor !== undefined) expect(headingSlugs(linked), `${page} links ${target ?? ""}#${anchor}`).toContain(anchor)
    }
  })
})

/** The JSONL audit file after a crash mid-write: a torn last line never corrupts the next entry. */
import { mkdtemp, readFile, stat, truncate, writeFile } from "node:fs/promises"
import { AuditLog, Grant } from "@agentloop/heroku-platform"
import { FakeHerokuPlatform } from "@agentloop/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { clientLayer, execute } from "./support.js"
import { HerokuTools } from "@agentloop/heroku-platform"

const entry = (toolCallId: string, kind: AuditLog.Entry["kind"] = "intent"): AuditLog.Entry => ({
  at: "2025-01-01T00:00:00.000Z",
  kind,
  runId: "run-1",
  agent: "ops",
  tool: "heroku_apps_delete",
  toolCallId,
  app: "alpha",
  arguments: { app: "alpha" },
  decision: "approved",
  by: "oncall",
  outcome: kind === "intent" ? "pending" : "success"
})

/** Records entries through a fresh `layerJsonl` (a process start), then closes it (its end). */
const session = (path: string, ...toRecord: ReadonlyArray<AuditLog.Entry>) =>
  Effect.gen(function* () {
    const log = yield* AuditLog.AuditLog
    for (const e of toRecord) yield* log.record(e)
  }).pipe(Effect.provide(AuditLog.layerJsonl(path)))

describe("AuditLog.layerJsonl after a torn write", () => {
  it.live("the file cut at every byte of its last entry, then a restart and a new entry: the new entry is whole, the torn line is flagged", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp("/tmp/heroku-audit-torn-"))
      const reference = `${dir}/reference.jsonl`
      yield* session(reference, entry("call-1"), entry("call-1", "outcome"), entry("call-2"))
      const text = yield* Effect.promise(() => readFile(reference, "utf8"))
      const lastStart = text.lastIndexOf("\n", text.length - 2) + 1
      const lastLength = Buffer.byteLength(text.slice(lastStart))
      expect(lastLength).toBeGreaterThan(100)
      for (let cut = 1; cut < lastLength; cut++) {
        const path = `${dir}/cut-${cut}.jsonl`
        yield* Effect.promise(() => writeFile(path, text))
        yield* Effect.promise(() => truncate(path, Buffer.byteLength(text.slice(0, lastStart)) + cut))
        // The restart: a new layer on the torn file, and the intent of the next destructive call.
        yield* session(path, entry("call-3"))
        const read = AuditLog.parseJsonl(yield* Effect.promise(() => readFile(path, "utf8")))
        const ids = read.entries.map((e) => `${e.toolCallId}/${e.kind}`)
        if (cut === lastLength - 1) {
          // Only the newline was lost: the entry itself is whole, and kept.
          expect(ids, `cut ${cut}`).toEqual(["call-1/intent", "call-1/outcome", "call-2/intent", "call-3/intent"])
          expect(read.torn).toEqual([])
        } else {
          expect(ids, `cut ${cut}`).toEqual(["call-1/intent", "call-1/outcome", "call-3/intent"])
          expect(read.torn, `cut ${cut}`).toEqual([{ line: 3, length: cut }])
        }
        // readJsonl does not fail on the torn line either.
        expect(AuditLog.readJsonl(yield* Effect.promise(() => readFile(path, "utf8"))).at(-1)).toMatchObject({ toolCallId: "call-3", kind: "intent" })
      }
    }))

  it.live("end to end: a destructive call after a restart on a torn file leaves a readable intent and outcome", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp("/tmp/heroku-audit-torn-"))
      const path = `${dir}/audit.jsonl`
      yield* session(path, entry("before-crash"))
      const { size } = yield* Effect.promise(() => stat(path))
      yield* Effect.promise(() => truncate(path, size - 40))
      const fake = yield* FakeHerokuPlatform.make()
      fake.addApp("alpha")
      const grant = Grant.make({ agent: "ops", access: { apps: "full" } })
      const execution = yield* execute(grant, "heroku_apps_delete", { app: "alpha" }, "oncall").pipe(
        Effect.provide(HerokuTools.layer(grant).pipe(Layer.provideMerge(Layer.merge(clientLayer(fake), AuditLog.layerJsonl(path)))))
      )
      expect(execution.isError).toBe(false)
      expect(fake.state.apps.size).toBe(0)
      const read = AuditLog.parseJsonl(yield* Effect.promise(() => readFile(path, "utf8")))
      expect(read.torn).toHaveLength(1)
      expect(read.entries.map((e) => [e.tool, e.kind, e.outcome])).toEqual([
        ["heroku_apps_delete", "intent", "pending"],
        ["heroku_apps_delete", "outcome", "success"]
      ])
    }))

  it("parseJsonl flags lines that are JSON but not entries, and never throws", () => {
    const good = JSON.stringify(entry("ok"))
    const read = AuditLog.parseJsonl(`${good}\n{"kind":"intent"}\nnot json\n\n${good}`)
    expect(read.entries).toHaveLength(2)
    expect(read.torn).toEqual([
      { line: 2, length: 17 },
      { line: 3, length: 8 }
    ])
  })

  it("AuditLog.plain copies any argument into JSON: no getter runs, cycles and class instances end as text", () => {
    let ran = false
    const cyclic: Record<string, unknown> = { app: "alpha" }
    cyclic["self"] = cyclic
    const tricky = Object.defineProperty({ ok: 1 }, "secret", { enumerable: true, get: () => ((ran = true), "hunter2") })
    const copy = AuditLog.plain({ cyclic, tricky, when: new Date(0), name: new String("prod"), list: [1, Infinity], fn: () => 1 }) as any
    expect(ran).toBe(false)
    expect(copy.tricky).toEqual({ ok: 1, secret: "[accessor]" })
    expect(copy.name).toBe("[String]")
    expect(copy.when).toBe("[Date]")
    expect(copy.list).toEqual([1, "Infinity"])
    expect(copy.fn).toBe("[function]")
    expect(JSON.stringify(copy)).toContain("[too deep]")
  })
})

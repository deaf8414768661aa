/**
 * The tools that match the rest of Heroku's MCP server (issue 24): apps by owner and by space, deploys from
 * files, one-off dynos with files, Managed Inference. Their happy paths are in `HerokuTools.test.ts` ("every
 * tool, each changing or reading the fake's state"); here, what they must refuse and what they must hide.
 */
import { AuditLog, Grant, HerokuTools, Operations } from "@agentloop/heroku-platform"
import * as SourceBundle from "@agentloop/heroku-platform/internal/sourceBundle"
import { FakeHerokuInference, FakeHerokuPlatform, ScriptedModel } from "@agentloop/testing"
import { untar } from "@agentloop/testing/internal/fakeHeroku/sourceRoutes"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { gunzipSync } from "node:zlib"
import { callHandler, clientLayer, execute } from "./support.js"

const everything = (extra: Parameters<typeof Grant.make>[0] = {}) =>
  Grant.make({ agent: "ops-bot", access: Object.fromEntries(Operations.groups.map((g) => [g, "full"])), create: { apps: true, pipelines: true }, ...extra })

const harness = (fake: FakeHerokuPlatform.FakeHeroku, grant: Grant.Grant, inferenceUrl?: string) =>
  HerokuTools.layer(grant).pipe(
    Layer.provideMerge(Layer.merge(clientLayer(fake, inferenceUrl === undefined ? {} : { inferenceUrl }), AuditLog.layerMemory))
  )

const entries = Effect.flatMap(AuditLog.AuditLog, (log) => log.entries)

/** A fake Heroku with the app `alpha`. */
const withAlpha = Effect.tap(FakeHerokuPlatform.make(), (fake) => Effect.sync(() => fake.addApp("alpha")))

describe("a code bundle", () => {
  it("is a gzipped ustar archive of exactly the files given (long paths split into prefix and name, modes kept)", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const deep = `${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(60)}.txt`
        const files = [
          { path: "./Procfile", content: "web: node index.js" },
          { path: deep, content: "é".repeat(700) },
          { path: "bin/run", content: "#!/bin/sh", executable: true }
        ]
        const archive = untar(gunzipSync(yield* SourceBundle.tarball(files)))
        expect(archive).toEqual([
          { path: "Procfile", content: "web: node index.js", mode: 0o644 },
          { path: deep, content: "é".repeat(700), mode: 0o644 },
          { path: "bin/run", content: "#!/bin/sh", mode: 0o755 }
        ])
      })
    ))

  it("paths must be plain and relative: traversal, absolute paths, empty segments and shell characters are refused", () => {
    for (const bad of ["../etc/passwd", "a/../../b", "/etc/passwd", "a//b", "a/./b", "", "a b", "a;rm -rf ~", "$(id)", "x\u0000y", "a\\b", "a".repeat(256)]) {
      expect(SourceBundle.pathProblem(bad), JSON.stringify(bad)).toBeDefined()
    }
    for (const good of ["index.js", "./app.json", "src/lib/x-y_z.1.ts", ".profile.d/setup.sh"]) expect(SourceBundle.pathProblem(good), good).toBeUndefined()
  })

  it.live("a deploy with a traversal path, a duplicate path or too many bytes is InvalidArguments naming the field: nothing uploaded, nothing built (the loop refuses before the handler)", () =>
    Effect.gen(function* () {
      const fake = yield* withAlpha
      const grant = everything()
      const attempts: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
        ["heroku_builds_create_from_files", { app: "alpha", files: [{ path: "../../outside.js", content: "x" }] }],
        ["heroku_builds_create_from_files", { app: "alpha", files: [{ path: "a.js", content: "1" }, { path: "./a.js", content: "2" }] }],
        ["heroku_builds_create_from_files", { app: "alpha", files: [{ path: "big.bin", content: "x".repeat(SourceBundle.MAX_BUNDLE_BYTES + 1) }] }],
        ["heroku_app_setups_create", { files: [{ path: "/etc/app.json", content: "{}" }] }],
        ["heroku_dynos_run", { app: "alpha", command: "sh x", files: [{ path: "x;reboot", content: "" }] }],
        ["heroku_dynos_run", { app: "alpha", command: "sh x", files: [{ path: "x", content: "y".repeat(SourceBundle.MAX_DYNO_BYTES + 1) }] }]
      ]
      const results = yield* Effect.gen(function* () {
        const out = []
        for (const [tool, args] of attempts) out.push(yield* execute(grant, tool, args, "oncall"))
        return { out, audit: yield* entries }
      }).pipe(Effect.provide(harness(fake, grant)))
      for (const execution of results.out) {
        expect(execution).toMatchObject({ isError: true, errorKind: "InvalidArguments" })
        expect(execution.content).toMatch(/files/)
      }
      expect(fake.requests).toEqual([])
      // The loop's decode refuses first; the audit observer records those refusals in the loop (AuditLog.observer), not the handler.
      expect(results.audit).toEqual([])
    }))

  it.live("called directly (no loop), the handler refuses a traversal path itself, audits the refusal and sends nothing", () =>
    Effect.gen(function* () {
      const fake = yield* withAlpha
      const grant = everything()
      const { audit, result } = yield* Effect.gen(function* () {
        const result = yield* callHandler(grant, "heroku_builds_create_from_files", { app: "alpha", files: [{ path: "../x", content: "" }] }, "oncall")
        return { result, audit: yield* entries }
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(result).toMatchObject({ _tag: "Failure", failure: { error: "InvalidArguments" } })
      expect(audit).toMatchObject([{ kind: "refusal", tool: "heroku_builds_create_from_files", by: "handler", outcome: "not_run" }])
      expect(fake.requests).toEqual([])
    }))

  it.live("the upload never carries the Heroku token, and an upload the storage refuses fails the deploy before any build", () =>
    Effect.gen(function* () {
      const fake = yield* withAlpha
      const grant = everything()
      const ok = yield* execute(grant, "heroku_builds_create_from_files", { app: "alpha", files: [{ path: "a.js", content: "1" }] }, "oncall").pipe(
        Effect.provide(harness(fake, grant))
      )
      expect(ok.isError, ok.content).toBe(false)
      // The fake answers 400 to an upload with an Authorization header: this one had none.
      expect(fake.requests.filter((r) => r.path.startsWith("/source-blobs/")).map((r) => [r.method, r.status])).toEqual([["PUT", 200]])
      fake.inject({ method: "PUT", path: /^\/source-blobs\//, status: 403, body: { message: "SignatureDoesNotMatch" } })
      const refused = yield* execute(grant, "heroku_builds_create_from_files", { app: "alpha", files: [{ path: "a.js", content: "1" }] }, "oncall").pipe(
        Effect.provide(harness(fake, grant))
      )
      expect(refused.value).toMatchObject({ error: { error: "HerokuForbidden", status: 403, message: "SignatureDoesNotMatch" } })
      // The presigned URL (its signature is a credential) is never quoted.
      expect(refused.content).not.toMatch(/source-blobs|signature=/)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/builds"))).toHaveLength(1)
    }))

  it.live("an app setup without an app.json fails as Heroku's does (status failed, with why)", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      const grant = everything()
      const setup = yield* execute(grant, "heroku_app_setups_create", { name: "no-manifest", files: [{ path: "index.js", content: "" }] }, "oncall").pipe(
        Effect.provide(harness(fake, grant))
      )
      expect(setup.value).toMatchObject({ status: "failed", failure_message: "app.json not found in the source blob" })
      expect([...fake.state.apps.values()]).toEqual([])
    }))

  it("setting up an app needs the grant's create.apps, like creating one", () => {
    expect(HerokuTools.toolkit(Grant.make({ access: { apps: "full" } })).names).not.toContain("heroku_app_setups_create")
    expect(HerokuTools.toolkit(Grant.make({ access: { apps: "full" }, create: { apps: true } })).names).toContain("heroku_app_setups_create")
  })
})

describe("apps by owner and by space", () => {
  it.live("a space filter under a narrow grant pages granted apps of that space only, and learns nothing of the others", () =>
    Effect.gen(function* () {
      const fake = yield* FakeHerokuPlatform.make()
      fake.addTeam("acme")
      fake.addSpace("acme-space", "acme")
      const hidden = [fake.addApp("a-hidden", { team: "acme", space: "acme-space" }), fake.addApp("z-outside-space", { team: "acme" })]
      fake.addApp("m-one", { team: "acme", space: "acme-space" })
      fake.addApp("n-two", { team: "acme", space: "acme-space" })
      const grant = Grant.make({ access: { apps: "read" }, apps: ["m-one", "n-two", "z-outside-space"] })
      const pages: Array<unknown> = []
      const seen: Array<string> = []
      yield* Effect.gen(function* () {
        let args: Record<string, unknown> = { space: "acme-space", max: 1 }
        for (let i = 0; i < 5; i++) {
          const execution = yield* execute(grant, "heroku_apps_list", args, undefined, `page-${i}`)
          seen.push(execution.content)
          const page = execution.value as { items: Array<{ name: string }>; nextRange?: string }
          pages.push(page.items.map((a) => a.name))
          if (page.nextRange === undefined) break
          args = { space: "acme-space", max: 1, range: page.nextRange }
        }
      }).pipe(Effect.provide(harness(fake, grant)))
      expect(pages).toEqual([["m-one"], ["n-two"]])
      for (const app of hidden) {
        expect(seen.join("\n")).not.toContain(app["name"])
        expect(seen.join("\n")).not.toContain(app["id"])
      }
    }))
})

describe("Managed Inference", () => {
  const KEY = "inf-key-PLANTED-7f3a9c2e1b"

  it.live("the model's key never reaches the result, errors, audit entries or logs: not on success, not when the endpoint refuses it and quotes it back", () =>
    Effect.gen(function* () {
      const inference = yield* FakeHerokuInference.make({
        key: KEY,
        chat: [ScriptedModel.text(`your key is ${KEY}`), { status: 400, body: { error: { message: `bad request for key ${KEY}` } } }]
      })
      const fake = yield* FakeHerokuPlatform.make({ inference: { url: inference.url, key: KEY } })
      fake.addApp("alpha")
      const grant = everything({ secrets: true })
      const logged: Array<string> = []
      const logger = Logger.layer([Logger.make(({ message, cause }) => void logged.push(JSON.stringify(message), String(cause)))])
      const { ok, failed, audit } = yield* Effect.gen(function* () {
        yield* execute(grant, "heroku_addons_create", { app: "alpha", plan: "heroku-inference:claude-4-5-haiku", as: "CHAT" }, "oncall")
        const ok = yield* execute(grant, "heroku_ai_inference", { app: "alpha", resource: "CHAT", messages: [{ role: "user", content: "key?" }] }, "oncall")
        const failed = yield* execute(grant, "heroku_ai_inference", { app: "alpha", resource: "CHAT", messages: [{ role: "user", content: "again" }] }, "oncall")
        yield* Effect.logError("an operator's line")
        return { ok, failed, audit: yield* entries }
      }).pipe(Effect.provide(harness(fake, grant, inference.url)), Effect.provide(logger))
      // The test logger is the one in use: it saw the operator's line.
      expect(logged.join("\n")).toContain("an operator's line")
      expect(ok.isError, ok.content).toBe(false)
      expect(ok.value).toMatchObject({ resource: "CHAT", text: "your key is [REDACTED]" })
      expect(failed.isError).toBe(true)
      expect(inference.requests.map((r) => r.headers["authorization"])).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`])
      for (const text of [ok.content, failed.content, JSON.stringify(audit), logged.join("\n")]) expect(text).not.toContain(KEY)
      // The inference endpoint never saw the Heroku token.
      expect(JSON.stringify(inference.requests)).not.toContain("test-token")
    }))

  it.live("an app without that model resource is a typed error naming the missing config var; nothing is sent to any model", () =>
    Effect.gen(function* () {
      const inference = yield* FakeHerokuInference.make({ key: KEY })
      const fake = yield* FakeHerokuPlatform.make({ inference: { url: inference.url, key: KEY } })
      fake.addApp("alpha")
      const grant = everything()
      const execution = yield* execute(grant, "heroku_ai_inference", { app: "alpha", messages: [{ role: "user", content: "hi" }] }, "oncall").pipe(
        Effect.provide(harness(fake, grant, inference.url))
      )
      expect(execution.value).toMatchObject({ error: { error: "HerokuApiError", status: 404 } })
      expect(execution.content).toContain("no INFERENCE_URL config var")
      expect(inference.requests).toEqual([])
    }))

  it("an inference costs money: it needs approval by default, and a Read grant to ai offers it (and the catalog)", () => {
    const read = HerokuTools.toolkit(Grant.make({ access: { ai: "read" } }))
    expect(read.names).toEqual(["heroku_ai_models_list", "heroku_ai_inference"])
    expect(read.tools["heroku_ai_inference"]!.requiresApproval).toBe(true)
    expect(read.tools["heroku_ai_models_list"]!.requiresApproval).toBe(false)
  })
})

/**
 * The approvals console in a real browser: Debian's chromium driven by playwright-core. Screenshots of each
 * step are written under test-output/console/ beside this file. Skipped (saying why) when chromium is not
 * installed: `.ci/run` installs it and sets AGENTLOOP_CHROMIUM.
 */
import { existsSync, mkdirSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Console } from "@agentloop/server"
import { chromium, type BrowserContext, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// The Heroku ops agent of `pnpm demo:console`.
import { herokuOps } from "../../../examples/console-demo.js"
import { json, startRun, startServer, type TestServer, tokens, until } from "./support.js"

const executable = process.env["AGENTLOOP_CHROMIUM"] ?? "/usr/bin/chromium"
const available = existsSync(executable)
if (!available) console.warn(`Console browser tests skipped: no chromium at ${executable} (apt-get install chromium, or set AGENTLOOP_CHROMIUM)`)

const output = join(import.meta.dirname, "test-output", "console")

it("the console's files are under 100 KB gzipped", () => {
  const total = Console.read().reduce((sum, file) => sum + gzipSync(file.body, { level: 9 }).length, 0)
  expect(total).toBeLessThan(100 * 1024)
})

describe.skipIf(!available)("approvals console in chromium", () => {
  let server: TestServer
  const sessions: Array<BrowserContext> = []
  beforeAll(async () => {
    mkdirSync(output, { recursive: true })
    server = await startServer({ "heroku-ops": herokuOps({ expiresIn: "30 minutes" }) })
  })
  afterAll(async () => {
    for (const session of sessions) await session.close()
    await server?.close()
  })

  const open = async (token: string): Promise<Page> => {
    const session = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "console-chromium-")), {
      executablePath: executable,
      viewport: { width: 1366, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
    sessions.push(session)
    const page = session.pages()[0] ?? (await session.newPage())
    await page.goto(`${server.url}/`)
    await page.getByLabel("Access token").fill(token)
    await page.keyboard.press("Enter")
    return page
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: join(output, `${name}.png`), fullPage: true })
  const start = () => startRun(server.url, "heroku-ops", "shop-api is returning errors. Find out why and fix it.")
  const card = (page: Page, runId: string) => page.locator("article.approval", { hasText: runId })

  it("an operator sees the pending restart with its risk, path, arguments and expiry, approves it, and watches the run complete", async () => {
    const { runId } = await start()
    const page = await open(tokens.alice.token)
    await expect.poll(() => page.locator("#who").textContent()).toContain("alice@example.com (approver)")
    const approval = card(page, runId)
    await approval.waitFor()
    await shot(page, "1-pending-restart")
    const text = await approval.textContent()
    expect(text).toContain("heroku_dynos_restart_all")
    expect(text).toContain("changes_runtime, takes_offline")
    expect(text).toContain("heroku-ops")
    expect(text).toContain('"app": "shop-api"')
    expect(await approval.locator("dd.expires").textContent()).toMatch(/^(29|30) min/)
    // Keyboard only: the reason field is labelled, the buttons are reachable with Tab.
    await approval.getByLabel("Reason").focus()
    await page.keyboard.type("restart is safe, traffic is low")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect.poll(() => page.locator("#notice").textContent()).toContain("Approved heroku_dynos_restart_all as alice@example.com")
    await page.locator("#runs button", { hasText: runId }).click()
    await expect.poll(() => page.locator("#run-summary").getAttribute("data-status"), { timeout: 15_000 }).toBe("completed")
    await expect.poll(() => page.locator("#events").textContent()).toContain("approved heroku_dynos_restart_all by alice@example.com")
    await expect.poll(() => page.locator("#audit").textContent()).toContain("approval decided")
    await shot(page, "2-approved-and-completed")
    const detail = await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })
    expect(detail.body.outcome.text).toContain("Restarted shop-api")
  })

  it("a denial with a reason reaches the model", async () => {
    const { runId } = await start()
    const page = await open(tokens.alice.token)
    const approval = card(page, runId)
    await approval.getByLabel("Reason").fill("deploy freeze until 18:00")
    await approval.getByRole("button", { name: "Deny" }).click()
    const detail = await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    expect(detail.body.outcome.text).toContain("deploy freeze until 18:00")
    await page.locator("#runs button", { hasText: runId }).click()
    await expect.poll(() => page.locator("#run-summary").textContent()).toContain("deploy freeze until 18:00")
    await shot(page, "3-denied-with-reason")
  })

  it("two sessions approving at once: one wins, the other is told who decided", async () => {
    const { runId } = await start()
    const [first, second] = await Promise.all([open(tokens.alice.token), open(tokens.bob.token)])
    await Promise.all([card(first!, runId).waitFor(), card(second!, runId).waitFor()])
    await Promise.all([card(first!, runId).getByRole("button", { name: "Approve" }).click(), card(second!, runId).getByRole("button", { name: "Approve" }).click()])
    const notices = await Promise.all(
      [first!, second!].map((page) => expect.poll(() => page.locator("#notice").textContent()).toMatch(/Approved|Already approved/).then(() => page.locator("#notice").textContent()))
    )
    const winners = notices.filter((n) => n!.startsWith("Approved"))
    const losers = notices.filter((n) => n!.startsWith("Already approved"))
    expect(winners).toHaveLength(1)
    expect(losers).toHaveLength(1)
    const winner = /as (\S+)\.$/.exec(winners[0]!)![1]
    expect(losers[0]).toContain(`by ${winner}`)
    await shot(first!, "4-race-session-1")
    await shot(second!, "4-race-session-2")
    const audit = (await json(`${server.url}/api/runs/${runId}/audit`, { who: "viewer" })).body.entries as Array<{ kind: string; tool?: string }>
    await until(() => json(`${server.url}/api/runs/${runId}`, { who: "viewer" }), (r) => r.body.status === "completed")
    const restarts = ((await json(`${server.url}/api/runs/${runId}/audit`, { who: "viewer" })).body.entries as typeof audit).filter(
      (e) => e.kind === "tool_result" && e.tool === "heroku_dynos_restart_all"
    )
    expect(restarts).toHaveLength(1)
  })

  it("a viewer sees no approve button, and a forged POST from the page is refused", async () => {
    const { runId } = await start()
    const page = await open(tokens.viewer.token)
    const approval = card(page, runId)
    await approval.waitFor()
    expect(await approval.getByRole("button", { name: "Approve" }).count()).toBe(0)
    expect(await approval.textContent()).toContain("can see this approval but not decide it")
    await shot(page, "5-viewer")
    const approvalId = await approval.getAttribute("data-approval-id")
    const forged = await page.evaluate(
      async ({ runId, approvalId, token }) => {
        const response = await fetch(`/api/runs/${runId}/approvals/${approvalId}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ approved: true, decidedBy: "alice@example.com" })
        })
        return { status: response.status, body: await response.json() }
      },
      { runId, approvalId, token: tokens.viewer.token }
    )
    expect(forged.status).toBe(403)
    expect((await json(`${server.url}/api/runs/${runId}`, { who: "viewer" })).body.status).toBe("suspended")
  })
})

/**
 * Child processes for the cross-process tests, spawned asynchronously: the vitest worker stays responsive
 * while they run (a blocked worker makes vitest fail the run on a busy machine).
 */
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

const script = join(import.meta.dirname, "process.ts")
/**
 * Node with tsx's loader, not the `tsx` command: that one runs node as a child, so a SIGKILL (ours, or the
 * timeout's) would stop the wrapper and orphan the real process, which would go on holding its database.
 */
const tsxLoader = pathToFileURL(join(import.meta.dirname, "..", "..", "..", "node_modules", "tsx", "dist", "loader.mjs")).href

export interface Exited {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  /** The JSON after the last `RESULT ` line, or undefined. */
  readonly result: any
  /** stderr and stdout, for assertion messages. */
  readonly output: string
}

export interface Running {
  /** Resolves when the process prints READY (rejects if it exits first). */
  readonly ready: Promise<void>
  readonly exited: Promise<Exited>
  readonly pid: number
  readonly kill: (signal?: NodeJS.Signals) => void
}

/** Starts `tsx process.ts ...args`; a process still running after `timeoutMs` is killed (SIGKILL). */
export const start = (args: ReadonlyArray<string>, options?: { readonly env?: Record<string, string>; readonly timeoutMs?: number }): Running => {
  const child = spawn(process.execPath, ["--import", tsxLoader, script, ...args], { env: { ...process.env, ...options?.env }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    child.on("exit", () => reject(new Error(`exited before READY:\n${stderr}${stdout}`)))
  })
  ready.catch(() => {})
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    if (stdout.includes("READY\n")) onReady()
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), options?.timeoutMs ?? 170_000)
  const exited = new Promise<Exited>((resolve) => {
    child.on("close", (status, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").reverse().find((l) => l.startsWith("RESULT "))
      let result: unknown
      try {
        result = line === undefined ? undefined : JSON.parse(line.slice("RESULT ".length))
      } catch {
        result = undefined
      }
      resolve({ status, signal, result, output: `${stderr}${stdout}` })
    })
  })
  return { ready, exited, pid: child.pid!, kill: (signal = "SIGKILL") => void child.kill(signal) }
}

/** Runs a process to its end. */
export const run = (args: ReadonlyArray<string>, options?: { readonly env?: Record<string, string>; readonly timeoutMs?: number }) => start(args, options).exited

export const wasKilled = (exited: Exited) => exited.signal === "SIGKILL"

/** Whether a server accepts TCP connections at the URL's host and port (asynchronously, 5 s at most). */
export { reachable } from "@agentloop/testing/FakeHerokuPostgres"

/** A TCP port nothing listens on right now (for cluster runners: other test runs may share the machine). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** Stops processes (waking a paused one first: it may have exited, ESRCH then) and waits until they have. */
export const stopAll = async (running: ReadonlyArray<Running>, signal: NodeJS.Signals) => {
  for (const r of running) {
    try {
      process.kill(r.pid, "SIGCONT")
    } catch {}
    r.kill(signal)
  }
  await Promise.all(running.map((r) => r.exited))
}

/** Polls (every 20 ms) until `probe` returns something, or `timeoutMs` passes (a probe that throws counts as nothing yet). */
export const waitFor = async <A>(probe: () => A | undefined, timeoutMs = 120_000): Promise<A | undefined> => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    try {
      const found = probe()
      if (found !== undefined) return found
    } catch {
      // e.g. the log file does not exist yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return undefined
}

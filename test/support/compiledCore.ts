/**
 * @agentloop/core as a user installs it, without a build: its sources compiled one module at a time as `tsc`
 * emits them, in `<dir>/node_modules/@agentloop/core/dist` beside its real package.json, for plain `node`
 * (no TypeScript loader, no source condition) in a folder outside the workspace.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import ts from "typescript"

const coreDir = join(import.meta.dirname, "..", "..", "packages", "core")
const coreSrc = join(coreDir, "src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

let compiled: Map<string, string> | undefined
/** The compiled modules by path under dist/ (compiled once per test file). */
const modules = () =>
  (compiled ??= new Map(
    sources(coreSrc).map((file) => [
      relative(coreSrc, file).replace(/\.ts$/, ".js"),
      ts.transpileModule(readFileSync(file, "utf8"), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true }
      }).outputText
    ])
  ))

/** Installs the compiled core into `<dir>/node_modules/@agentloop/core`. */
export const installCore = (dir: string): void => {
  const target = join(dir, "node_modules", "@agentloop", "core")
  for (const [path, text] of modules()) {
    const out = join(target, "dist", path)
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, text)
  }
  copyFileSync(join(coreDir, "package.json"), join(target, "package.json"))
}

/** The environment of a process run as a user would: without the workspace's source condition. */
export const userEnv = (): NodeJS.ProcessEnv => ({ ...process.env, NODE_OPTIONS: "" })

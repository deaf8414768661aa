/**
 * `pnpm docs:examples`: every ```ts code block in a doc comment under packages/*\/src (the `@example`s that
 * the API reference shows) and in a package's README.md (what the registry shows) is written to
 * .doc-examples/ and type-checked with tsc, strict, against the packages' sources (the `@agentloop/source`
 * condition, like the tests). A block is a whole module: it imports what it uses.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const out = join(root, ".doc-examples")

const sourceFiles = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** The ```ts / ```typescript blocks of one file's doc comments, with the line each starts on. */
export const examplesOf = (text) => {
  const blocks = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split("\n").map((line) => line.replace(/^\s*\*? ?/, ""))
    const startLine = text.slice(0, comment.index).split("\n").length
    let current
    lines.forEach((line, i) => {
      if (current === undefined && /^```(ts|typescript)\s*$/.test(line.trim())) current = { line: startLine + i + 1, code: [] }
      else if (current !== undefined && line.trim() === "```") {
        blocks.push({ line: current.line, code: current.code.join("\n") })
        current = undefined
      } else if (current !== undefined) current.code.push(line)
    })
  }
  return blocks
}

/** The ```ts / ```typescript blocks of a Markdown file, with the line each starts on. */
export const markdownExamplesOf = (text) =>
  [...text.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```$/gm)].map((match) => ({
    line: text.slice(0, match.index).split("\n").length + 1,
    code: match[1]
  }))

const packagesDir = join(root, "packages")
const examples = readdirSync(packagesDir)
  .filter((dir) => existsSync(join(packagesDir, dir, "src")))
  .flatMap((dir) => sourceFiles(join(packagesDir, dir, "src")))
  .flatMap((file) => examplesOf(readFileSync(file, "utf8")).map((block) => ({ file, ...block })))
  .concat(
    readdirSync(packagesDir)
      .map((dir) => join(packagesDir, dir, "README.md"))
      .filter((file) => existsSync(file))
      .flatMap((file) => markdownExamplesOf(readFileSync(file, "utf8")).map((block) => ({ file, ...block })))
  )

rmSync(out, { recursive: true, force: true })
mkdirSync(out)
const names = examples.map(({ file, line, code }) => {
  const name = `${relative(packagesDir, file).replace(/[/.]/g, "_")}_L${line}.ts`
  // Each block is a module of its own (`export {}`), so two examples may declare the same names.
  writeFileSync(join(out, name), `// from ${relative(root, file)}:${line}\n${code}\nexport {}\n`)
  return name
})
writeFileSync(
  join(out, "tsconfig.json"),
  JSON.stringify({
    extends: "../tsconfig.base.json",
    compilerOptions: { noEmit: true, noUnusedLocals: false, noUnusedParameters: false },
    include: ["*.ts"]
  })
)
console.log(`doc examples: ${names.length} code blocks in doc comments and package READMEs`)
if (names.length === 0) process.exit(0)
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
const code = await new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [tsc, "-p", join(out, "tsconfig.json")], { cwd: root, stdio: "inherit" })
  child.on("error", reject)
  child.on("close", resolve)
})
if (code !== 0) {
  console.error("doc examples: type errors above (each file's first line names the doc comment it came from)")
  process.exit(1)
}
console.log("doc examples: all type-check")

/**
 * Prints the step machine's transition table (packages/core/src/internal/loop/machine.ts) into docs/core.md,
 * between `<!-- transitions:begin -->` and `<!-- transitions:end -->`: `node --import tsx scripts/core-doc.ts`.
 * `packages/core/test/Structure.test.ts` fails while the two differ.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { markdownTable } from "../packages/core/src/internal/loop/machine.js"

const file = join(import.meta.dirname, "..", "docs", "core.md")
const text = readFileSync(file, "utf8")
const block = /(<!-- transitions:begin -->)[\s\S]*?(<!-- transitions:end -->)/
if (!block.test(text)) throw new Error(`${file} has no <!-- transitions:begin --> ... <!-- transitions:end --> block`)
writeFileSync(file, text.replace(block, (_, begin: string, end: string) => `${begin}\n${markdownTable()}\n${end}`))
console.log(`updated the transition table in ${file}`)

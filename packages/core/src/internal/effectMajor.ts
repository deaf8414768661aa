/**
 * A clear error when the installed `effect` is not major 4, imported first by the package's entry.
 *
 * On Effect 3 no code runs before the whole module graph links, and linking stops at the first import that
 * Effect 3 lacks: the import below is that import (Effect 3 has no `Version`), and Node prints its source
 * line, comment included, which says what to do. On a later major that still links, the check below throws
 * before any other module of the package runs.
 */
import { Version } from "effect" // @agentloop/core needs effect 4.x, this effect is older: npm install effect@^4.1.5

/** The major version the package is built for. */
export const supportedMajor = 4

/** The error message for an installed `effect` version, or undefined when it is supported. */
export const unsupported = (version: string): string | undefined => {
  const major = Number.parseInt(version, 10)
  return major === supportedMajor
    ? undefined
    : `@agentloop/core needs effect ${supportedMajor}.x (peer dependency "effect": "^4.1.5"), but effect ${version} is installed. ` +
        `Install a supported version: npm install effect@^4.1.5`
}

const problem = unsupported(Version.getCurrentVersion())
if (problem !== undefined) throw new Error(problem)

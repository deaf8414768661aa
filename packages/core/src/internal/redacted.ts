/**
 * Tool values that hold `Redacted` secrets. A tool's schema may declare a `Redacted` field (a failure carrying
 * the key it was refused with, say). Encoding with `Schema.RedactedFromValue` unwraps the secret, and
 * `Schema.Redacted` keeps the `Redacted` itself in the encoded value: either way the encoded value must not take
 * the secret (or a live `Redacted`) to the model, the events and the stored run. These find such schemas once
 * per tool and put `<redacted>` where the secrets were.
 */
import { Redacted, type SchemaAST } from "effect"

/** `Schema.Redacted(...)`, also the decoded side of `Schema.RedactedFromValue(...)`. */
const isRedactedDeclaration = (ast: SchemaAST.Declaration): boolean => {
  const representation = ast.annotations?.representation as { readonly id?: unknown } | undefined
  return representation?.id === "effect/schema/Redacted"
}

/** Whether values of this schema may hold a `Redacted`. */
export const schemaHoldsRedacted = (ast: SchemaAST.AST, seen: Set<SchemaAST.AST> = new Set()): boolean => {
  if (seen.has(ast)) return false
  seen.add(ast)
  const any = (asts: ReadonlyArray<SchemaAST.AST>) => asts.some((child) => schemaHoldsRedacted(child, seen))
  // A transformation's other side (its encoded schema) is a link of the node's encoding chain.
  if (ast.encoding !== undefined && any(ast.encoding.map((link) => link.to))) return true
  switch (ast._tag) {
    case "Declaration":
      return isRedactedDeclaration(ast) || any(ast.typeParameters)
    case "Objects":
      return any(ast.propertySignatures.map((p) => p.type)) || any(ast.indexSignatures.map((i) => i.type))
    case "Arrays":
      return any(ast.elements) || any(ast.rest)
    case "Union":
      return any(ast.types)
    case "Suspend":
      return schemaHoldsRedacted(ast.thunk(), seen)
    default:
      return false
  }
}

/** The secrets inside a value (as the handler returned it, before encoding). */
const secretsIn = (value: unknown, found: Set<string>, seen: Set<object>): Set<string> => {
  if (typeof value !== "object" || value === null || seen.has(value)) return found
  seen.add(value)
  if (Redacted.isRedacted(value)) {
    const secret = Redacted.value(value)
    if (typeof secret === "string" && secret.length > 0) found.add(secret)
    else secretsIn(secret, found, seen)
    return found
  }
  for (const child of Array.isArray(value) ? value : Object.values(value)) secretsIn(child, found, seen)
  return found
}

const replaceIn = (value: unknown, secrets: ReadonlyArray<string>): unknown => {
  // `Schema.Redacted` encodes to the `Redacted` itself: it is shown as `<redacted>`, as it prints.
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (typeof value === "string") {
    let text = value
    for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join("<redacted>")
    return text
  }
  if (Array.isArray(value)) return value.map((child) => replaceIn(child, secrets))
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, replaceIn(child, secrets)]))
  return value
}

/**
 * `encoded` with every secret of `original`'s `Redacted` values replaced by `<redacted>`, and every `Redacted`
 * it still holds (`Schema.Redacted` encodes to the `Redacted` itself) replaced by the text `<redacted>`.
 */
export const redactEncoded = (original: unknown, encoded: unknown): unknown =>
  replaceIn(encoded, [...secretsIn(original, new Set(), new Set())].sort((a, b) => b.length - a.length))

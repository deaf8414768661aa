/**
 * Tool values that hold `Redacted` secrets. A tool's schema may declare a `Schema.Redacted` field (a failure
 * carrying the key it was refused with, say), and encoding with that schema unwraps the secret: the encoded
 * value would take it to the model, the events and the stored run. These find such schemas once per tool and
 * put `<redacted>` back where the secrets were.
 */
import { Redacted, SchemaAST } from "effect"

const isRedactedDeclaration = (ast: SchemaAST.Declaration): boolean => {
  const constructor = ast.annotations[SchemaAST.TypeConstructorAnnotationId] as { readonly _tag?: unknown } | undefined
  return constructor?._tag === "effect/Redacted"
}

/** Whether values of this schema may hold a `Redacted`. */
export const schemaHoldsRedacted = (ast: SchemaAST.AST, seen: Set<SchemaAST.AST> = new Set()): boolean => {
  if (seen.has(ast)) return false
  seen.add(ast)
  const any = (asts: ReadonlyArray<SchemaAST.AST>) => asts.some((child) => schemaHoldsRedacted(child, seen))
  switch (ast._tag) {
    case "Declaration":
      return isRedactedDeclaration(ast) || any(ast.typeParameters)
    case "Refinement":
      return schemaHoldsRedacted(ast.from, seen)
    case "Transformation":
      return any([ast.from, ast.to])
    case "TypeLiteral":
      return any(ast.propertySignatures.map((p) => p.type)) || any(ast.indexSignatures.map((i) => i.type))
    case "TupleType":
      return any(ast.elements.map((e) => e.type)) || any(ast.rest.map((r) => r.type))
    case "Union":
      return any(ast.types)
    case "Suspend":
      return schemaHoldsRedacted(ast.f(), seen)
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
  if (typeof value === "string") {
    let text = value
    for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join("<redacted>")
    return text
  }
  if (Array.isArray(value)) return value.map((child) => replaceIn(child, secrets))
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, replaceIn(child, secrets)]))
  return value
}

/** `encoded` with every secret of `original`'s `Redacted` values replaced by `<redacted>`. */
export const redactEncoded = (original: unknown, encoded: unknown): unknown => {
  const secrets = [...secretsIn(original, new Set(), new Set())].sort((a, b) => b.length - a.length)
  return secrets.length === 0 ? encoded : replaceIn(encoded, secrets)
}

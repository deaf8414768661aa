/**
 * A decode failure as the model and the audit see it: where it failed and what kind of problem, never the
 * values (an argument or an answer may hold a secret).
 *
 * @internal
 */
import type { Schema, SchemaIssue } from "effect"

/** The leaves of a decode issue (at most `limit`), each with its kind and path; never the values. */
const issueLeaves = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>, into: Array<string>, limit: number): void => {
  if (into.length >= limit) return
  switch (issue._tag) {
    case "Pointer":
      return issueLeaves(issue.issue, [...path, ...issue.path], into, limit)
    case "Filter":
    case "Encoding":
      return issueLeaves(issue.issue, path, into, limit)
    case "Composite":
    case "AnyOf":
      // A union that no member matched by type (an array for an app name) has no inner issues: it is the leaf.
      if (issue.issues.length === 0) return void into.push(`${issue._tag} at ${path.length === 0 ? "(root)" : path.map(String).join(".")}`)
      for (const inner of issue.issues) issueLeaves(inner, path, into, limit)
      return
    default:
      into.push(`${issue._tag} at ${path.length === 0 ? "(root)" : path.map(String).join(".")}`)
  }
}

/** A decode failure, described by where it failed and never by the values (they may be secrets). */
export const describeDecodeError = (error: Schema.SchemaError): string => {
  const leaves: Array<string> = []
  issueLeaves(error.issue, [], leaves, 5)
  return leaves.join("; ")
}

/**
 * Scrubbing of secrets (known values and secret-shaped strings) from text and values: the definitions live in
 * `@agentloop/core/Redaction`, shared with every other output that shows tool arguments (see there).
 *
 * @since 0.1.0
 */
export * from "@agentloop/core/Redaction"

/**
 * @agentloop/heroku-platform: the Heroku Platform API v3 as an agent tool set.
 *
 * @since 0.1.0
 * @packageDocumentation
 */
export * as AuditLog from "./AuditLog.js"
export * as Grant from "./Grant.js"
export * as HerokuClient from "./HerokuClient.js"
export * as HerokuError from "./HerokuError.js"
export * as HerokuTools from "./HerokuTools.js"
export * as Identifiers from "./Identifiers.js"
export * as Operations from "./Operations.js"
export * as Range from "./Range.js"
export * as RateLimiter from "./RateLimiter.js"
export * as Redaction from "./Redaction.js"
export * as Resources from "./Resources.js"
export * as TwoFactor from "./TwoFactor.js"
export * as Webhooks from "./Webhooks.js"

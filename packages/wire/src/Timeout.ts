/**
 * The three timeouts of a hosted call, so that no run hangs on a silent server: until the response headers
 * arrive (`headers`: connect plus the server's time to answer), between two reads of the body (`idle`),
 * and for the whole step, retries included (`step`). Each one that fires is a `ModelError` whose `reason`
 * says which (`headers-timeout`, `idle-timeout`, `step-timeout`).
 *
 * @since 0.1.0
 */
import { Duration } from "effect"

export interface Options {
  /** Until the response headers arrive. Default 120 s (a non-streamed answer arrives whole). */
  readonly headers?: Duration.Input
  /** The longest silence between two chunks of the body. Default 120 s (servers that stream ping well within it). */
  readonly idle?: Duration.Input
  /** The whole step: every attempt, the waits between them, and the body. Default 15 minutes. */
  readonly step?: Duration.Input
}

export interface Resolved {
  readonly headers: Duration.Duration
  readonly idle: Duration.Duration
  readonly step: Duration.Duration
}

export const defaults: Resolved = {
  headers: Duration.seconds(120),
  idle: Duration.seconds(120),
  step: Duration.minutes(15)
}

export const resolve = (options: Options | undefined): Resolved =>
  options === undefined
    ? defaults
    : {
        headers: options.headers === undefined ? defaults.headers : Duration.fromInputUnsafe(options.headers),
        idle: options.idle === undefined ? defaults.idle : Duration.fromInputUnsafe(options.idle),
        step: options.step === undefined ? defaults.step : Duration.fromInputUnsafe(options.step)
      }

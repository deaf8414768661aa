/** Timing helpers for the benchmarks: warm up, then take the median of several timed repetitions. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6 // ms

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Warms up (at least `warmup` runs and at least `warmupMs` of running, so the JIT has settled for every
 * contender alike), then runs `task` `runs` times; returns each repetition's duration in ms.
 */
export const measureSamples = async (
  task: () => Promise<unknown> | unknown,
  options: { readonly warmup: number; readonly runs: number; readonly warmupMs?: number }
): Promise<ReadonlyArray<number>> => {
  const warmupStart = now()
  for (let i = 0; i < options.warmup || now() - warmupStart < (options.warmupMs ?? 0); i++) await task()
  const times: Array<number> = []
  for (let i = 0; i < options.runs; i++) {
    const start = now()
    await task()
    times.push(now() - start)
  }
  return times
}

/** `measureSamples`, summarised by the median duration in ms. */
export const measure = async (
  task: () => Promise<unknown> | unknown,
  options: { readonly warmup: number; readonly runs: number; readonly warmupMs?: number }
): Promise<number> => median(await measureSamples(task, options))

export const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect !== undefined) {
    collect()
    collect()
  }
}

/** Samples the heap while `task` runs; returns the task's duration and the peak heap growth in bytes. */
export const withPeakHeap = async <A>(task: () => Promise<A>): Promise<{ readonly ms: number; readonly peakBytes: number; readonly result: A }> => {
  gc()
  const base = process.memoryUsage().heapUsed
  let peak = base
  const timer = setInterval(() => {
    const used = process.memoryUsage().heapUsed
    if (used > peak) peak = used
  }, 2)
  const start = now()
  const result = await task()
  const ms = now() - start
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().heapUsed)
  return { ms, peakBytes: peak - base, result }
}

export const fmt = (value: number, digits = 1): string => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

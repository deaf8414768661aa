/**
 * Profiles one W1 contender (streaming or not) after a warm-up and prints µs per step; see profile-w1.ts.
 * `pnpm build && node --cpu-prof --import tsx bench/profile-stream.ts [steps] [runs] [contender prefix]`.
 */
import { contenders, streamContenders } from "./loops.js"

const steps = Number(process.argv[2] ?? 20)
const runs = Number(process.argv[3] ?? Math.ceil(20_000 / steps))
const which = process.argv[4] ?? "agentloop backend.stream"
const setup = [...streamContenders, ...contenders].find(([name]) => name.startsWith(which))![1]
const contender = setup(steps, 0)
for (let i = 0; i < runs / 4; i++) await contender.run()
const start = performance.now()
for (let i = 0; i < runs; i++) await contender.run()
console.log(`${which}: ${(((performance.now() - start) * 1000) / (runs * steps)).toFixed(2)} µs/step`)
await contender.dispose()

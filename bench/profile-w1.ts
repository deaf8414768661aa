/**
 * Profiles one W1 contender (agentloop by default) after a long warm-up and prints µs per step:
 * `pnpm build && node --cpu-prof --import tsx bench/profile-w1.ts [steps] [runs] [contender prefix]` (profiles
 * the built dist/, as `pnpm bench` measures; add `--conditions=@agentloop/source` to profile the sources), then
 * open the main thread's .cpuprofile (the one that mentions Loop.js) in Chrome DevTools.
 */
import { contenders, modelContenders, streamContenders } from "./loops.js"

const steps = Number(process.argv[2] ?? 200)
const runs = Number(process.argv[3] ?? Math.ceil(80_000 / steps))
const which = process.argv[4] ?? "agentloop"
// Streaming contenders and the model-interface ones too, e.g. "agentloop backend.stream" or "agentloop run, model as Effect Stream only".
const setup = [...contenders, ...streamContenders, ...modelContenders].find(([name]) => name.startsWith(which))![1]
const contender = setup(steps, 0)
for (let i = 0; i < runs / 4; i++) await contender.run()
const start = performance.now()
for (let i = 0; i < runs; i++) await contender.run()
console.log(`${which}: ${(((performance.now() - start) * 1000) / (runs * steps)).toFixed(2)} µs/step`)
await contender.dispose()

/**
 * Profiles agentloop on W1: `node --cpu-prof --import tsx bench/profile-w1.ts [steps]`, then open the
 * main thread's .cpuprofile (the one that mentions Loop.ts) in Chrome DevTools.
 */
import { contenders } from "./loops.js"

const steps = Number(process.argv[2] ?? 200)
const setup = contenders.find(([name]) => name.startsWith("agentloop"))![1]
const contender = setup(steps, 0)
for (let i = 0; i < Math.ceil(80_000 / steps); i++) await contender.run()
await contender.dispose()

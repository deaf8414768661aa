/** Profiles agentloop on W1 (200 steps): `node --cpu-prof --import tsx bench/profile-w1.ts`. */
import { contenders } from "./loops.js"
const setup = contenders.find(([name]) => name.startsWith("agentloop"))![1]
const contender = setup(200, 0)
for (let i = 0; i < 400; i++) await contender.run()
await contender.dispose()

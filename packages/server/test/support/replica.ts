/**
 * One server replica for the cross-process race: the release agent over a file store shared with the other
 * replicas, its executions appended to a shared file. Prints its URL on stdout once it listens.
 */
import { releaseAgent, startServer } from "../support.js"

const [storeDirectory, executions] = process.argv.slice(2)
const server = await startServer({ "release-bot": releaseAgent({ storeDirectory: storeDirectory!, executions: executions! }) })
console.log(server.url)
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)))

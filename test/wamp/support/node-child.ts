// A router node in its own process, for the node-loss test: it joins the cluster on the given
// broker, registers `com.child.slow` with an in-memory callee that never answers, and prints one
// JSON line per step ({"ready": node}, {"invoked": procedure}). The test kills it with SIGKILL.
// Usage: node node-child.js <redis|nats> <url>

import { natsAdapter } from '../../../src/pubsub/nats.js';
import { redisAdapter } from '../../../src/pubsub/redis.js';
import { WampRouter } from '../../../src/wamp/index.js';
import { INVOCATION, joined } from './memory.js';

const [kind, url] = process.argv.slice(2) as [string, string];
const adapter = kind === 'redis' ? await redisAdapter({ url }) : await natsAdapter({ servers: url });
const router = new WampRouter({ realms: { realm1: {} }, pubsub: { adapter }, cluster: { heartbeat: 100, nodeTimeout: 600 } });
await router.ready();
const callee = await joined(router);
await callee.register('com.child.slow');
await router.ready();
console.log(JSON.stringify({ ready: router.node }));
const invocation = await callee.expect(INVOCATION, undefined, 60_000);
console.log(JSON.stringify({ invoked: (invocation[4] as unknown[])[0] }));
// Wait to be killed.
setInterval(() => {}, 1000);

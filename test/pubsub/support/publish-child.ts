// A process that holds no WebSockets and publishes through createPublisher (a worker, a cron job).
// Usage: node publish-child.js <redis|nats> <url> <topic> <count>
// Every third message is binary. Prints the publisher's stats as one JSON line, then exits.

import { createPublisher } from '../../../src/pubsub/publisher.js';
import { natsAdapter } from '../../../src/pubsub/nats.js';
import { redisAdapter } from '../../../src/pubsub/redis.js';

const [kind, url, topic, count] = process.argv.slice(2) as [string, string, string, string];
const adapter = kind === 'redis' ? await redisAdapter({ url }) : await natsAdapter({ servers: url });
const publisher = createPublisher({ adapter });
await publisher.ready();
for (let i = 0; i < Number(count); i++) {
  if (i % 3 === 2) publisher.publish(topic, Buffer.from(`m${i}`));
  else publisher.publish(topic, `m${i}`);
}
await publisher.close();
console.log(JSON.stringify(publisher.stats));

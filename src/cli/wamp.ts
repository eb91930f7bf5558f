// `serve --wamp PATH`: the WAMP v2 router (src/wamp) as one of serve's endpoints. Realms are made
// when a client first asks for one and every session is anonymous: a local development router.
// With --pubsub, its realms are shared with every other router node on the same broker.

import { WAMP_PROTOCOLS, WampRouter, type PubSubAdapter, type WampSocket } from '../index.js';
import type { Endpoint } from './endpoints.js';

/** Messages in are counted by serve for every endpoint; the router's own sends are not. */
export function wampEndpoint(path: string, adapter: PubSubAdapter | null): Endpoint {
  const router = new WampRouter({ realms: {}, autoCreateRealms: true, ...(adapter !== null ? { pubsub: { adapter } } : {}) });
  return {
    kind: 'wamp',
    path,
    // wamp.2.json and wamp.2.msgpack, in the client's order; the bare `wamp` (WAMP v1) is declined.
    protocols: WAMP_PROTOCOLS,
    accept(ws) {
      router.handle(ws as WampSocket);
    },
    close: () => router.close(),
  };
}

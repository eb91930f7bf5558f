// HTTP/2 sessions on a server the upgrade router is attached to: Node stops reading a session
// after it sent GOAWAY for a rapid reset (CVE-2023-44487) and never notices the client leave;
// with the router there, such sessions close once the client has closed TCP.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, type ClientHttp2Session, type ServerHttp2Session } from 'node:http2';
import { upgradeRouterFor } from '../../src/upgrade/router.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { openSession, startH2cServer } from '../http2/support/h2.js';

/** Opens `count` streams and resets each at once, then waits for the server's GOAWAY. */
async function rapidReset(session: ClientHttp2Session, count: number): Promise<number> {
  const goaway = within(once(session, 'goaway'), 15_000, 'the server’s GOAWAY');
  for (let i = 0; i < count; i++) {
    const stream = session.request({ ':path': '/' });
    stream.on('error', () => {});
    stream.close(constants.NGHTTP2_CANCEL);
  }
  const [code] = (await goaway) as [number];
  return code;
}

describe('HTTP/2 sessions on a server with an upgrade router', { timeout: 90_000 }, () => {
  it('a session left after a rapid reset closes once the client has closed TCP', async () => {
    const h2 = await startH2cServer();
    const seen: ServerHttp2Session[] = [];
    h2.server.on('session', (session: ServerHttp2Session) => seen.push(session));
    h2.server.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    upgradeRouterFor(h2.server);
    const healthy = await openSession(h2.port);
    try {
      for (let i = 0; i < 3; i++) {
        const attacker = await openSession(h2.port);
        // nghttp2's limit on stream resets ends the connection with an error (RFC 9113 §6.8).
        assert.notEqual(await rapidReset(attacker, 2000), constants.NGHTTP2_NO_ERROR);
        attacker.destroy();
      }
      assert.equal(seen.length, 4);
      const attacked = seen.slice(1).filter((session) => !session.closed && !session.destroyed);
      await within(Promise.all(attacked.map((session) => once(session, 'close'))), 20_000, 'the attacked sessions to close');
      assert.equal(h2.sessions.size, 1, 'only the healthy session is left');
      // The healthy session went through the same checks and still serves.
      const request = healthy.request({ ':path': '/' });
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      await within(once(request, 'end'), EVENT_WAIT_MS, 'the response');
      assert.equal(body, 'ok');
    } finally {
      healthy.destroy();
      await h2.stop();
    }
  });
});

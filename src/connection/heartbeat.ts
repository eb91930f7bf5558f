// Heartbeats: ping a connection that has been quiet for pingInterval, close one that has sent
// nothing (not even a pong) for idleTimeout. Driven by the shared ticker, never a timer per
// connection.

import { CloseCode } from '../protocol/close-codes.js';
import { ReadyState } from '../protocol/websocket-protocol.js';
import { unwatch, watch } from '../util/ticker.js';
import { activityOf, type WebSocketConnection } from './websocket-connection.js';

export interface HeartbeatSettings {
  pingInterval: number;
  idleTimeout: number;
}

/** One heartbeat step for one connection at coarse time `now`. */
export function heartbeat(ws: WebSocketConnection<any>, now: number, settings: HeartbeatSettings): void {
  if (ws.readyState !== ReadyState.OPEN) return;
  const activity = activityOf(ws);
  const quiet = now - activity.lastReceived;
  if (settings.idleTimeout > 0 && quiet >= settings.idleTimeout) {
    ws.close(CloseCode.GoingAway, 'Idle timeout');
  } else if (settings.pingInterval > 0 && quiet >= settings.pingInterval && now - activity.lastPing >= settings.pingInterval) {
    activity.lastPing = now;
    ws.ping();
  }
}

/** How often a group with these settings needs checking, ms. */
export function heartbeatPeriod(settings: HeartbeatSettings): number {
  const shortest = Math.min(settings.pingInterval || Infinity, settings.idleTimeout || Infinity);
  return Math.max(250, shortest / 4);
}

/** Heartbeat for a single connection (a client's); stops when it closes. */
export function startHeartbeat(ws: WebSocketConnection<any>, settings: HeartbeatSettings): void {
  const period = heartbeatPeriod(settings);
  let next = 0;
  const member = {
    tick(now: number): void {
      if (now < next) return;
      next = now + period;
      heartbeat(ws, now, settings);
    },
  };
  watch(member);
  ws.once('close', () => unwatch(member));
}

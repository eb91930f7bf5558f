// The diagnostics_channel messages with Upshift's own types filled in, as the public API names
// them (src/connection/diagnostics.ts defines them generically: it sits below the server and the
// connection class).

import type * as Generic from '../connection/diagnostics.js';
import type { WebSocketConnection } from '../connection/websocket-connection.js';
import type { HandshakeRequest } from './endpoint.js';
import type { WebSocketServer } from './websocket-server.js';

export { DIAGNOSTICS_CHANNELS } from '../connection/diagnostics.js';
export type { RefusalStage, WebSocketTransport } from '../connection/diagnostics.js';

/** `upshift:handshake:accepted` */
export type HandshakeAcceptedMessage = Generic.HandshakeAcceptedMessage<WebSocketServer<any>, WebSocketConnection<any>, HandshakeRequest>;
/** `upshift:handshake:refused` */
export type HandshakeRefusedMessage = Generic.HandshakeRefusedMessage<WebSocketServer<any>>;
/** `upshift:client:handshake` */
export type ClientHandshakeMessage = Generic.ClientHandshakeMessage<WebSocketConnection>;
/** `upshift:client:handshake_error` */
export type ClientHandshakeErrorMessage = Generic.ClientHandshakeErrorMessage;
/** `upshift:connection:open` */
export type ConnectionOpenMessage = Generic.ConnectionOpenMessage<WebSocketConnection<any>>;
/** `upshift:connection:close` */
export type ConnectionCloseMessage = Generic.ConnectionCloseMessage<WebSocketConnection<any>>;
/** `upshift:connection:protocol_error` */
export type ProtocolErrorMessage = Generic.ProtocolErrorMessage<WebSocketConnection<any>>;
/** `upshift:connection:backpressure_high` and `upshift:connection:backpressure_low` */
export type BackpressureMessage = Generic.BackpressureMessage<WebSocketConnection<any>>;

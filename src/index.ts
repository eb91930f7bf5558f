// Public API of Upshift.
export { WebSocketServer } from './server/websocket-server.js';
export type {
  WebSocketServerOptions,
  WebSocketServerEvents,
  VerifyResult,
  HandshakeInfo,
  HandshakeRequest,
  CloseOptions,
  WebSocketPublishOptions,
  WebSocketServerStats,
  HandshakeRefusalRecord,
  StatsOptions,
} from './server/websocket-server.js';
export { DIAGNOSTICS_CHANNELS } from './server/diagnostics.js';
export type {
  RefusalStage,
  WebSocketTransport,
  HandshakeAcceptedMessage,
  HandshakeRefusedMessage,
  ClientHandshakeMessage,
  ClientHandshakeErrorMessage,
  ConnectionOpenMessage,
  ConnectionCloseMessage,
  ProtocolErrorMessage,
  BackpressureMessage,
} from './server/diagnostics.js';
export { createTopicHub } from './server/topics.js';
export type { PubSubOption } from './server/topics.js';
export type { SlowConsumerPolicy, TopicHub } from './connection/websocket-connection.js';
export { DEFAULT_LIMITS } from './connection/limits.js';
export type { ConnectionLimits, ServerLimits } from './connection/limits.js';
export { WebSocketConnection } from './connection/websocket-connection.js';
export type { SendOptions, SendCallback, ReceivedMessage, WebSocketConnectionEvents } from './connection/websocket-connection.js';
export { createWebSocketStream, type WebSocketStreamOptions } from './connection/stream.js';
export type { SendableData } from './connection/sendable.js';
export { CloseCode } from './protocol/close-codes.js';
export { WebSocketError } from './protocol/errors.js';
export type { WebSocketErrorCode } from './protocol/errors.js';
export type { ServerExtension, ClientExtension } from './protocol/extensions.js';
export type { MessageCodec } from './protocol/message-codec.js';
export { WebSocket, CloseEvent, ErrorEvent } from './client/websocket.js';
export type { BinaryType, WebSocketEventMap } from './client/websocket.js';
export { connect, HandshakeError } from './client/connect.js';
export type { ClientOptions, WebSocketOptions } from './client/options.js';
export { perMessageDeflate, perMessageDeflateClient } from './extensions/permessage-deflate/index.js';
export type {
  PerMessageDeflateOptions,
  PerMessageDeflateServerOptions,
  PerMessageDeflateClientOptions,
  DeflateParameters,
} from './extensions/permessage-deflate/index.js';
export { UpgradeRouter, upgradeRouterFor, switchingProtocols } from './upgrade/router.js';
export type { UpgradeHandler, UpgradeOffer, RouteOptions, UpgradeCapableServer } from './upgrade/router.js';
export { parseUpgradeHeader } from './upgrade/upgrade-header.js';
export { enableH2c, H2cUpgradeHandler } from './upgrade/h2c.js';
export { ExtendedConnectRequest } from './server/http2-stream.js';
export * from './pubsub/index.js';
export * from './wamp/index.js';
export type { H2cOptions } from './upgrade/h2c.js';

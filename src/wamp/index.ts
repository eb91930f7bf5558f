// The WAMP router's public API.
export { WampRouter, WAMP_PROTOCOLS, ROUTER_ROLES, selectWampProtocol } from './router.js';
export type { WampRouterOptions, WampRouterStats, WampRouterEvents, WampSocket, WampEndpoint } from './router.js';
export type { RealmOptions, Permission, Action } from './realm.js';
export type { SessionInfo } from './types.js';
export type { ClusterOptions, ClusterStats } from './cluster.js';
export { anonymous, ticket, wampcra, deriveCraKey, craSignature, AuthRefusal } from './auth.js';
export type { Authenticator, AuthRequest, AuthStep, Identity, CraUser, TicketCheck } from './auth.js';
export { Session } from './session.js';
export type { WampTransport, SessionContext } from './session.js';
export { encode as msgpackEncode, decode as msgpackDecode, MsgpackError } from './msgpack.js';

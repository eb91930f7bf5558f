// The pub/sub layer's API, for src/index.ts to re-export.
export { Hub } from './hub.js';
export type { HubOptions, HubStats, HubEvents, BrokerUpEvent, PublishedMessage, PublishOptions, Deliver } from './hub.js';
export { createPublisher } from './publisher.js';
export type { Publisher, PublisherOptions } from './publisher.js';
export { inProcessAdapter } from './adapter.js';
export type { PubSubAdapter, ReconnectOptions, OutboundQueueOptions, BrokerLinkOptions } from './adapter.js';
export { redisAdapter } from './redis.js';
export type { RedisAdapterOptions } from './redis.js';
export { natsAdapter } from './nats.js';
export type { NatsAdapterOptions } from './nats.js';
export { TopicRegistry, MQTT_TOPICS, WAMP_TOPICS, DEFAULT_TOPIC_LIMITS } from './topics.js';
export type { TopicSyntax, TopicLimits, MatchKind, Subscription, SubscribeOptions, TopicFilter } from './topics.js';
export { PubSubError } from './errors.js';
export type { PubSubErrorCode } from './errors.js';

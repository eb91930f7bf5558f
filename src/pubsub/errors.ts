// Errors of the pub/sub layer carry stable codes, like WebSocketError does for the protocol.

export type PubSubErrorCode =
  /** A topic name or subscription filter breaks the syntax or a limit. */
  | 'PUBSUB_ERR_INVALID_TOPIC'
  /** The adapter's client library (an optional peer dependency) is not installed. */
  | 'PUBSUB_ERR_CLIENT_MISSING'
  /** The hub or publisher was closed. */
  | 'PUBSUB_ERR_CLOSED'
  /** Bad adapter or hub options, or an adapter used the wrong way. */
  | 'PUBSUB_ERR_OPTIONS';

export class PubSubError extends Error {
  override readonly name = 'PubSubError';
  constructor(
    message: string,
    readonly code: PubSubErrorCode,
  ) {
    super(message);
  }
}

// Authentication hooks (WAMP Advanced Profile, "Authentication"): a router is given a list of
// authenticators; a client names the methods it can do in HELLO.Details.authmethods (anonymous when
// it names none), and the first of them that the realm offers runs. Built in: anonymous, ticket and
// WAMP-CRA (HMAC-SHA256 over a JSON challenge, with PBKDF2-salted keys). An application can add its
// own method by implementing Authenticator.

import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Uri, type Dict } from './protocol.js';

/** Who a session is, once authenticated. */
export interface Identity {
  authid: string;
  authrole: string;
  /** Default: 'static'. */
  authprovider?: string;
  /** Sent to the client in WELCOME.Details.authextra. */
  authextra?: Dict;
}

/** What an authenticator knows about the client asking to join. */
export interface AuthRequest {
  readonly realm: string;
  /** HELLO.Details.authid, if the client sent a string. */
  readonly authid: string | undefined;
  /** HELLO.Details, as sent. */
  readonly details: Dict;
  /** The session ID the client will get (WAMP-CRA binds its challenge to it). */
  readonly session: number;
  /** What the application attached to the connection (router.handle(ws, { transport })). */
  readonly transport: Dict;
}

/** Refuses a join: ABORT with `reason` (a URI) and a message. */
export class AuthRefusal extends Error {
  override name = 'AuthRefusal';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type AuthStep =
  | { readonly welcome: Identity }
  | {
      /** CHALLENGE.Extra. */
      readonly challenge: Dict;
      /** Checks AUTHENTICATE: returns who the client is, or throws AuthRefusal. */
      authenticate(signature: string, extra: Dict): Identity | Promise<Identity>;
    };

export interface Authenticator {
  /** The authmethod name clients ask for. */
  readonly method: string;
  /** Starts authenticating a HELLO: welcome at once, send a challenge, or throw AuthRefusal. */
  hello(request: AuthRequest): AuthStep | Promise<AuthStep>;
}

function randomAuthid(): string {
  return randomBytes(12).toString('base64url');
}

/** Anonymous: everyone gets in, with a random authid and `role` (default 'anonymous'). */
export function anonymous(options: { role?: string } = {}): Authenticator {
  const authrole = options.role ?? 'anonymous';
  return Object.freeze({
    method: 'anonymous',
    hello: (): AuthStep => ({ welcome: { authid: randomAuthid(), authrole, authprovider: 'static' } }),
  });
}

/** What an application's check of a ticket returns: the role (and optionally more), or false. */
export type TicketCheck = (
  authid: string,
  ticket: string,
  request: AuthRequest,
) => string | Partial<Identity> & { authrole: string } | false | undefined | Promise<string | (Partial<Identity> & { authrole: string }) | false | undefined>;

/**
 * Ticket-based authentication: the client presents a secret ("ticket") for its authid, and
 * `check` decides. The ticket crosses the wire as sent: use it over TLS only.
 */
export function ticket(check: TicketCheck): Authenticator {
  return Object.freeze({
    method: 'ticket',
    hello(request: AuthRequest): AuthStep {
      const authid = request.authid;
      if (authid === undefined) throw new AuthRefusal(Uri.AUTHENTICATION_DENIED, 'ticket authentication needs HELLO.Details.authid');
      return {
        challenge: {},
        async authenticate(signature: string): Promise<Identity> {
          const outcome = await check(authid, signature, request);
          if (outcome === false || outcome === undefined) throw new AuthRefusal(Uri.AUTHENTICATION_DENIED, 'invalid ticket');
          const identity = typeof outcome === 'string' ? { authrole: outcome } : outcome;
          return { authid, authprovider: 'static', ...identity };
        },
      };
    },
  });
}

/** A WAMP-CRA principal. With `salt`, `secret` is the key derived from the password (deriveCraKey). */
export interface CraUser {
  secret: string;
  role: string;
  salt?: string;
  /** PBKDF2 iterations (default 1000) and key length in bytes (default 32), with `salt`. */
  iterations?: number;
  keylen?: number;
  authprovider?: string;
  authextra?: Dict;
}

/**
 * The WAMP-CRA key for a salted password: PBKDF2-HMAC-SHA256, base64 (WAMP Advanced Profile,
 * "Password Salting"). Store this, not the password; the client derives the same key from the
 * password and the salt, iterations and keylen sent in the challenge.
 */
export function deriveCraKey(password: string, salt: string, iterations = 1000, keylen = 32): string {
  return pbkdf2Sync(password, salt, iterations, keylen, 'sha256').toString('base64');
}

/** The WAMP-CRA signature: base64(HMAC-SHA256(key, challenge)). */
export function craSignature(key: string, challenge: string): string {
  return createHmac('sha256', key).update(challenge).digest('base64');
}

/**
 * WAMP-CRA (WAMP Advanced Profile, "Challenge Response Authentication"): the router sends a JSON
 * challenge naming the authid, role, a nonce, a timestamp and the session ID; the client answers
 * with base64(HMAC-SHA256(secret, challenge)). The secret never crosses the wire. An unknown
 * authid gets a challenge too (for a random key), so refusals do not tell which authids exist.
 */
export function wampcra(lookup: (authid: string, request: AuthRequest) => CraUser | undefined | Promise<CraUser | undefined>): Authenticator {
  return Object.freeze({
    method: 'wampcra',
    async hello(request: AuthRequest): Promise<AuthStep> {
      const authid = request.authid;
      if (authid === undefined) throw new AuthRefusal(Uri.AUTHENTICATION_DENIED, 'WAMP-CRA needs HELLO.Details.authid');
      const user = await lookup(authid, request);
      const known = user !== undefined;
      const key = known ? user.secret : randomBytes(32).toString('base64');
      const authrole = known ? user.role : 'anonymous';
      const authprovider = user?.authprovider ?? 'static';
      const challenge = JSON.stringify({
        authid,
        authrole,
        authmethod: 'wampcra',
        authprovider,
        nonce: randomBytes(16).toString('base64'),
        timestamp: new Date().toISOString(),
        session: request.session,
      });
      const extra: Dict = { challenge };
      if (user?.salt !== undefined) {
        extra.salt = user.salt;
        extra.iterations = user.iterations ?? 1000;
        extra.keylen = user.keylen ?? 32;
      }
      return {
        challenge: extra,
        authenticate(signature: string): Identity {
          const expected = Buffer.from(craSignature(key, challenge));
          const got = Buffer.from(signature);
          if (!known || got.length !== expected.length || !timingSafeEqual(got, expected)) {
            throw new AuthRefusal(Uri.AUTHENTICATION_DENIED, 'WAMP-CRA signature invalid');
          }
          const identity: Identity = { authid, authrole, authprovider };
          if (user.authextra !== undefined) identity.authextra = user.authextra;
          return identity;
        },
      };
    },
  });
}

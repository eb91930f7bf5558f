// The client's redirect policy, as a pure function: whether to follow a response, where to, and
// with which headers. The connect() pipeline applies it to both transports alike.

import type { RequestHeaders } from '../protocol/client-handshake.js';

/** RFC 9110 §15.4: the redirections that carry a Location to try instead. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** followRedirects: true follows up to this many. */
export const DEFAULT_MAX_REDIRECTS = 10;

/** Headers that carry the user's credentials, which another origin must not see. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** The followRedirects option as the most redirects to follow; throws RangeError if invalid. */
export function redirectLimit(followRedirects: boolean | number | undefined): number {
  if (followRedirects === undefined || followRedirects === false) return 0;
  if (followRedirects === true) return DEFAULT_MAX_REDIRECTS;
  if (typeof followRedirects === 'number' && Number.isInteger(followRedirects) && followRedirects >= 0) return followRedirects;
  throw new RangeError(`followRedirects must be true, false or a non-negative integer, got ${String(followRedirects)}`);
}

/**
 * The origin of a ws:/wss: URL as scheme, host and port, with the default port written out so
 * that wss://h/ and wss://h:443/ compare equal (RFC 6454 §4).
 */
export function originOf(url: URL): string {
  const secure = url.protocol === 'wss:';
  return `${secure ? 'wss' : 'ws'}://${url.hostname}:${url.port === '' ? (secure ? 443 : 80) : url.port}`;
}

export type RedirectDecision =
  | { follow: true; url: URL; headers: RequestHeaders; credentialsDropped: boolean }
  | { follow: false; reason: string };

export interface RedirectInput {
  /** The URL that was requested. */
  url: URL;
  status: number;
  location: string | string[] | undefined;
  /** The application headers sent to `url`. */
  headers: RequestHeaders;
  /** Redirects followed so far in this handshake. */
  followed: number;
  /** The most to follow (redirectLimit). */
  limit: number;
}

/**
 * What to do with a response that is not a handshake success: null if it is no redirect (a
 * refusal), otherwise follow it (the next URL and headers) or not (and why). Credentials are
 * dropped when the origin changes, which includes wss: to ws: on the same host and port: they
 * would then travel in clear text.
 */
export function decideRedirect(input: RedirectInput): RedirectDecision | null {
  const { location } = input;
  if (!REDIRECT_STATUSES.has(input.status) || location === undefined) return null;
  const shown = JSON.stringify(location);
  if (input.limit === 0) return { follow: false, reason: `a redirect to ${shown}, not followed (set followRedirects to follow redirects)` };
  if (input.followed >= input.limit) {
    return { follow: false, reason: `too many redirects: ${input.followed} followed, the most followRedirects allows; the next was to ${shown}` };
  }
  if (typeof location !== 'string') return { follow: false, reason: `a redirect with ${location.length} Location headers` };
  let url: URL;
  try {
    // RFC 9110 §10.2.2: a relative Location is resolved against the request's URL.
    url = new URL(location, input.url);
  } catch {
    return { follow: false, reason: `an invalid redirect location: ${shown}` };
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return { follow: false, reason: `a redirect to ${shown}, whose scheme is not ws, wss, http or https` };
  }
  // A fragment is never sent; the WebSocket URL rules do not allow one.
  url.hash = '';
  if (originOf(url) === originOf(input.url)) return { follow: true, url, headers: input.headers, credentialsDropped: false };
  const headers: RequestHeaders = {};
  let credentialsDropped = false;
  for (const [name, value] of Object.entries(input.headers)) {
    if (CREDENTIAL_HEADERS.has(name.toLowerCase())) credentialsDropped = true;
    else headers[name] = value;
  }
  return { follow: true, url, headers, credentialsDropped };
}

// Waiting for things to happen, always with a bound: a test that waits forever is a test that
// hangs the suite.

import type { EventEmitter } from 'node:events';

/**
 * How much later than configured a timeout may fire before a test calls it wrong. A busy CI
 * machine can hold a timer back by a second or more; this still tells a configured timeout of a
 * few hundred milliseconds from the library's defaults (10 s and up).
 */
export const TIMER_SLACK_MS = 4000;

/**
 * How long a test waits for an event that should come at once, unless it says otherwise. A wait
 * that succeeds ends when the event comes, so a generous bound costs nothing on a quiet machine
 * and keeps a loaded CI machine from failing a test that would have passed.
 */
export const EVENT_WAIT_MS = 5000;

/** Resolves or rejects like `promise`, but rejects with a clear message after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const label = typeof what === 'function' ? what() : what;
      reject(new Error(`Timed out after ${ms} ms waiting for ${label}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The arguments of the next `event` from an EventEmitter, or a timeout error. */
export function nextEvent<T extends unknown[] = unknown[]>(
  emitter: EventEmitter<any> | NodeJS.EventEmitter,
  event: string,
  ms = EVENT_WAIT_MS,
): Promise<T> {
  return within(
    new Promise<T>((resolve) => {
      (emitter as NodeJS.EventEmitter).once(event, (...args: unknown[]) => resolve(args as T));
    }),
    ms,
    `'${event}' event`,
  );
}

/** The next `type` event dispatched by an EventTarget, or a timeout error. */
export function nextDomEvent<E extends Event = Event>(target: EventTarget, type: string, ms = EVENT_WAIT_MS): Promise<E> {
  return within(
    new Promise<E>((resolve) => target.addEventListener(type, (event) => resolve(event as E), { once: true })),
    ms,
    `'${type}' DOM event`,
  );
}

/** Resolves once `count` `event`s have been emitted; returns their first arguments. */
export function collectEvents<T = unknown>(
  emitter: NodeJS.EventEmitter | EventEmitter<any>,
  event: string,
  count: number,
  ms = EVENT_WAIT_MS,
): Promise<T[]> {
  const seen: T[] = [];
  const target = emitter as NodeJS.EventEmitter;
  let listener: (value: T) => void;
  return within(
    new Promise<T[]>((resolve) => {
      listener = (value: T): void => {
        seen.push(value);
        if (seen.length === count) resolve(seen);
      };
      target.on(event, listener);
    }),
    ms,
    () => `${count} '${event}' events (saw ${seen.length})`,
  ).finally(() => target.off(event, listener));
}

/** A promise with its resolve function outside, for hooks the test controls. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms`: only for letting a deadline pass on purpose, never to wait for an event. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Re-checks `condition` every `intervalMs` until it holds, or rejects after `ms`: for state that has no event. */
export async function waitUntil(condition: () => boolean, ms: number, what: string | (() => string), intervalMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * What arrives over time (messages, lines), kept in order from the start, so that several
 * arriving in one read are not missed between two waits; take() returns the next one, bounded.
 */
export class Inbox<T> {
  readonly items: T[] = [];
  #taken = 0;
  #wake: (() => void) | null = null;

  readonly push = (item: T): void => {
    this.items.push(item);
    this.#wake?.();
  };

  async take(ms = 5000, what = 'the next item'): Promise<T> {
    const deadline = Date.now() + ms;
    while (this.#taken >= this.items.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(this.items)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return this.items[this.#taken++]!;
  }
}

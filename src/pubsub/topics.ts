// The in-process topic registry: which subscriber is subscribed to what, and who gets a message
// published on a topic. Pure: no sockets, no timers; a subscriber is any object.
//
// Design. A topic name is a string of levels joined by a one-character separator. A subscription
// is a filter of one of three kinds:
//   exact     the topic itself                                   (a hash-map entry)
//   wildcard  levels where the single-level wildcard matches any one level, and (MQTT style) a
//             last multi-level wildcard that matches the levels before it and anything below
//   prefix    a string prefix of the topic name                  (WAMP `match: "prefix"`)
// Two syntaxes are built in:
//   MQTT_TOPICS (the default)  `/` separator, `+` one level, `#` last level = this and below
//                              (MQTT 5.0 §4.7): `chat/+/typing`, `prices/#`
//   WAMP_TOPICS                `.` separator, an empty level is a one-level wildcard
//                              (WAMP advanced profile, pattern-based subscriptions): `com.app..update`
// Why level-based wildcards: they index as a trie, so a publish visits only the trie nodes that
// match a prefix of the topic's levels (never a scan of all topics or of all filters), and they
// translate 1:1 into the brokers' own patterns (NATS `*`/`>`, Redis PSUBSCRIBE globs), so a node
// subscribes at the broker to what its filters need and nothing else. Regular expressions or
// arbitrary globs would need a scan. The MQTT syntax is the one WebSocket applications know; the
// WAMP syntax and the prefix kind let the WAMP router (next issue) use the same registry.
//
// Costs: subscribe/unsubscribe O(1) for an exact topic, O(levels) for a filter; unsubscribeAll
// O(the subscriber's subscriptions); a publish costs one hash lookup for the exact topic plus, only
// when wildcard or prefix filters exist, a trie walk over the nodes matching the topic's prefixes
// (at most levels × the wildcard branches present), plus O(matches). Each matching subscriber is
// reported once per publish, however many of its filters match (a mark per subscriber, no set).

import { PubSubError } from './errors.js';

export type MatchKind = 'exact' | 'wildcard' | 'prefix';

export interface TopicSyntax {
  readonly name: string;
  /** One character between levels. */
  readonly separator: string;
  /** A filter level equal to this matches any one level ('' = an empty level, as in WAMP). */
  readonly singleLevel: string;
  /** A last filter level equal to this matches its parent and every level below; null = none. */
  readonly multiLevel: string | null;
}

export const MQTT_TOPICS: TopicSyntax = Object.freeze({ name: 'mqtt', separator: '/', singleLevel: '+', multiLevel: '#' });
export const WAMP_TOPICS: TopicSyntax = Object.freeze({ name: 'wamp', separator: '.', singleLevel: '', multiLevel: null });

export interface TopicLimits {
  /** Longest topic name or filter, in UTF-16 code units. Default 256. */
  maxLength?: number;
  /** Most levels in a topic name or filter. Default 32. */
  maxLevels?: number;
}

export const DEFAULT_TOPIC_LIMITS: Readonly<Required<TopicLimits>> = Object.freeze({ maxLength: 256, maxLevels: 32 });
/** Upper bound of maxLength: the broker envelope stores the topic's UTF-8 length in 16 bits. */
export const MAX_TOPIC_LENGTH = 4096;

/** A parsed, validated subscription filter. */
export interface TopicFilter {
  readonly text: string;
  readonly match: MatchKind;
  /** 'exact'/'wildcard': every level, null for a one-level wildcard, without the trailing
   *  multi-level wildcard. 'prefix': the complete levels before `partial`. */
  readonly levels: readonly (string | null)[];
  /** 'wildcard' only: ends with the multi-level wildcard. */
  readonly rest: boolean;
  /** 'prefix' only: the text after the prefix's last separator (may be ''). */
  readonly partial: string;
  readonly syntax: TopicSyntax;
}

/** What a subscriber is subscribed to (the same object for as long as the subscription lasts). */
export interface Subscription {
  readonly filter: string;
  readonly match: MatchKind;
}

function invalid(what: string, text: string, why: string): PubSubError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new PubSubError(`Invalid ${what} ${JSON.stringify(shown)}: ${why}`, 'PUBSUB_ERR_INVALID_TOPIC');
}

function checkText(what: string, text: unknown, limits: Required<TopicLimits>): asserts text is string {
  if (typeof text !== 'string') throw new PubSubError(`The ${what} must be a string, got ${typeof text}`, 'PUBSUB_ERR_INVALID_TOPIC');
  if (text.length === 0) throw invalid(what, text, 'it is empty');
  if (text.length > limits.maxLength) throw invalid(what, text, `longer than ${limits.maxLength} characters`);
  // A lone surrogate has no UTF-8 form: two different names would reach the broker as one.
  if (!(text as unknown as { isWellFormed(): boolean }).isWellFormed()) throw invalid(what, text, 'it contains a lone surrogate');
}

function checkLevelCount(what: string, text: string, count: number, limits: Required<TopicLimits>): void {
  if (count > limits.maxLevels) throw invalid(what, text, `more than ${limits.maxLevels} levels`);
}

/** Levels of a topic name (what is published): no wildcards, no empty levels. */
export function parseTopic(syntax: TopicSyntax, limits: Required<TopicLimits>, topic: unknown): string[] {
  checkText('topic', topic, limits);
  const levels = topic.split(syntax.separator);
  checkLevelCount('topic', topic, levels.length, limits);
  const { singleLevel: single, multiLevel: multi } = syntax;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '') throw invalid('topic', topic, `level ${i + 1} is empty`);
    // MQTT 5.0 §4.7.0: wildcard characters are not allowed in topic names.
    if (single !== '' && level.includes(single)) throw invalid('topic', topic, `"${single}" is only allowed in subscription filters`);
    if (multi !== null && level.includes(multi)) throw invalid('topic', topic, `"${multi}" is only allowed in subscription filters`);
  }
  return levels;
}

/** Parses a subscription filter: 'exact' or 'wildcard' by its content, or 'prefix' when asked. */
export function parseFilter(
  syntax: TopicSyntax,
  limits: Required<TopicLimits>,
  text: unknown,
  prefix = false,
): TopicFilter {
  checkText('filter', text, limits);
  const parts = text.split(syntax.separator);
  checkLevelCount('filter', text, parts.length, limits);
  const { singleLevel: single, multiLevel: multi } = syntax;
  if (prefix) {
    const partial = parts.pop()!;
    for (let i = 0; i < parts.length; i++) {
      if (parts[i] === '') throw invalid('prefix filter', text, `level ${i + 1} is empty`);
    }
    return Object.freeze({ text, match: 'prefix', levels: Object.freeze(parts), rest: false, partial, syntax });
  }
  const levels: (string | null)[] = [];
  let rest = false;
  let wildcard = false;
  for (let i = 0; i < parts.length; i++) {
    const level = parts[i]!;
    if (multi !== null && level === multi) {
      // MQTT 5.0 §4.7.1.2: the multi-level wildcard is a whole level and the last one.
      if (i !== parts.length - 1) throw invalid('filter', text, `"${multi}" must be the last level`);
      rest = wildcard = true;
    } else if (level === single) {
      levels.push(null);
      wildcard = true;
    } else if (level === '') {
      throw invalid('filter', text, `level ${i + 1} is empty`);
    } else if (single !== '' && level.includes(single)) {
      throw invalid('filter', text, `"${single}" must be a whole level`);
    } else if (multi !== null && level.includes(multi)) {
      throw invalid('filter', text, `"${multi}" must be a whole level`);
    } else {
      levels.push(level);
    }
  }
  return Object.freeze({ text, match: wildcard ? 'wildcard' : 'exact', levels: Object.freeze(levels), rest, partial: '', syntax });
}

/** Does `filter` match the topic with these levels? The reference semantics (and for tests). */
export function filterMatches(filter: TopicFilter, topic: string, levels: readonly string[]): boolean {
  if (filter.match === 'prefix') return topic.startsWith(filter.text);
  const want = filter.levels;
  if (filter.rest ? levels.length < want.length : levels.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    if (want[i] !== null && want[i] !== levels[i]) return false;
  }
  return true;
}

interface SubscriberState<S> {
  readonly subscriber: S;
  /** Its subscriptions by key. */
  readonly entries: Map<string, Entry<S>>;
  /** The last publish that reported this subscriber: reports it once per publish. */
  mark: number;
}

interface Entry<S> {
  readonly key: string;
  readonly filter: TopicFilter;
  readonly subscription: Subscription;
  readonly members: Set<SubscriberState<S>>;
  /** The trie node holding a wildcard or prefix filter. */
  readonly node: TrieNode<S> | null;
}

class TrieNode<S> {
  readonly children = new Map<string, TrieNode<S>>();
  /** The child reached by the one-level wildcard. */
  any: TrieNode<S> | null = null;
  /** A wildcard filter ending here. */
  here: Entry<S> | null = null;
  /** A filter ending here with the multi-level wildcard: this level and every one below. */
  below: Entry<S> | null = null;
  /** Prefix filters whose partial level starts at this depth, by partial text. */
  partials: Map<string, Entry<S>> | null = null;
  /** How many partials have each length: a publish looks up only the lengths present. */
  partialLengths: Map<number, number> | null = null;

  constructor(
    readonly parent: TrieNode<S> | null,
    /** The literal level leading here, or null for the one-level wildcard. */
    readonly level: string | null,
  ) {}

  get empty(): boolean {
    return this.children.size === 0 && this.any === null && this.here === null && this.below === null && this.partials === null;
  }
}

export interface TopicRegistryOptions extends TopicLimits {
  syntax?: TopicSyntax | undefined;
  /** Called when a filter gets its first subscriber (subscribe at the broker). */
  onFirst?: (filter: TopicFilter) => void;
  /** Called when a filter loses its last subscriber (unsubscribe at the broker). */
  onLast?: (filter: TopicFilter) => void;
}

export interface SubscribeOptions {
  /** 'prefix': the filter is a string prefix of topic names (WAMP `match: "prefix"`). */
  match?: 'prefix';
}

const PREFIX_KEY = '\u0000'; // keeps prefix filters apart from exact/wildcard ones with the same text

/** A snapshot of the subscribers a publish reaches. */
type Matched<S> = { readonly subscriber: S; readonly entries: { readonly size: number } };

export class MatchedSubscribers<S> {
  readonly #states: readonly Matched<S>[];

  constructor(states: readonly Matched<S>[]) {
    this.#states = states;
  }

  get size(): number {
    return this.#states.length;
  }

  /** Visits each subscriber still subscribed to something; returns the number of visits. */
  forEach(visit: (subscriber: S) => void): number {
    let visits = 0;
    for (const state of this.#states) {
      if (state.entries.size === 0) continue;
      visits++;
      visit(state.subscriber);
    }
    return visits;
  }
}

let stepsOf: (registry: TopicRegistry<object>) => number;

/** Test hook: the work a registry has done (calls, trie nodes visited or made, subscribers looked at). */
export function registrySteps(registry: TopicRegistry<object>): number {
  return stepsOf(registry);
}

export class TopicRegistry<S extends object> {
  readonly syntax: TopicSyntax;
  readonly limits: Readonly<Required<TopicLimits>>;
  readonly #subscribers = new Map<S, SubscriberState<S>>();
  readonly #exact = new Map<string, Entry<S>>();
  /** Wildcard and prefix entries by key. */
  readonly #patterns = new Map<string, Entry<S>>();
  readonly #root = new TrieNode<S>(null, null);
  readonly #onFirst: ((filter: TopicFilter) => void) | undefined;
  readonly #onLast: ((filter: TopicFilter) => void) | undefined;
  #mark = 0;
  #steps = 0;

  static {
    stepsOf = (registry) => registry.#steps;
  }

  constructor(options: TopicRegistryOptions = {}) {
    this.syntax = options.syntax ?? MQTT_TOPICS;
    if (this.syntax.separator.length !== 1) throw new PubSubError('The topic separator must be one character', 'PUBSUB_ERR_OPTIONS');
    const maxLength = options.maxLength ?? DEFAULT_TOPIC_LIMITS.maxLength;
    const maxLevels = options.maxLevels ?? DEFAULT_TOPIC_LIMITS.maxLevels;
    if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > MAX_TOPIC_LENGTH) {
      throw new PubSubError(`maxLength must be an integer from 1 to ${MAX_TOPIC_LENGTH}`, 'PUBSUB_ERR_OPTIONS');
    }
    if (!Number.isInteger(maxLevels) || maxLevels < 1) throw new PubSubError('maxLevels must be a positive integer', 'PUBSUB_ERR_OPTIONS');
    this.limits = Object.freeze({ maxLength, maxLevels });
    this.#onFirst = options.onFirst;
    this.#onLast = options.onLast;
  }

  /** Parses and validates a filter with this registry's syntax and limits. */
  parseFilter(filter: string, options?: SubscribeOptions): TopicFilter {
    return parseFilter(this.syntax, this.limits, filter, options?.match === 'prefix');
  }

  /** Validates a topic name and returns its levels. */
  parseTopic(topic: string): string[] {
    return parseTopic(this.syntax, this.limits, topic);
  }

  /** Subscribes; false if it already was. Throws PubSubError for an invalid filter. */
  subscribe(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    this.#steps++;
    const prefix = options?.match === 'prefix';
    const key = prefix ? PREFIX_KEY + filter : filter;
    let state = this.#subscribers.get(subscriber);
    if (state?.entries.has(key)) return false;
    let entry = prefix ? this.#patterns.get(key) : (this.#exact.get(key) ?? this.#patterns.get(key));
    let first = false;
    if (entry === undefined) {
      entry = this.#createEntry(key, this.parseFilter(filter, options));
      first = true;
    }
    if (state === undefined) {
      state = { subscriber, entries: new Map(), mark: 0 };
      this.#subscribers.set(subscriber, state);
    }
    state.entries.set(key, entry);
    entry.members.add(state);
    if (first) this.#onFirst?.(entry.filter);
    return true;
  }

  /** Unsubscribes; false if it was not subscribed. */
  unsubscribe(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    this.#steps++;
    const state = this.#subscribers.get(subscriber);
    if (state === undefined) return false;
    const key = options?.match === 'prefix' ? PREFIX_KEY + filter : filter;
    const entry = state.entries.get(key);
    if (entry === undefined) return false;
    state.entries.delete(key);
    if (state.entries.size === 0) this.#subscribers.delete(subscriber);
    this.#leave(entry, state);
    return true;
  }

  /** Removes every subscription of `subscriber` (when it closes); returns how many. */
  unsubscribeAll(subscriber: S): number {
    const state = this.#subscribers.get(subscriber);
    if (state === undefined) return 0;
    this.#subscribers.delete(subscriber);
    const entries = [...state.entries.values()];
    state.entries.clear();
    for (const entry of entries) this.#leave(entry, state);
    return entries.length;
  }

  /** The subscriptions of `subscriber`, in the order they were made. */
  subscriptionsOf(subscriber: S): Subscription[] {
    const state = this.#subscribers.get(subscriber);
    if (state === undefined) return [];
    return Array.from(state.entries.values(), (entry) => entry.subscription);
  }

  /** The filter texts `subscriber` is subscribed to (prefix filters included). */
  topicsOf(subscriber: S): string[] {
    const state = this.#subscribers.get(subscriber);
    if (state === undefined) return [];
    return Array.from(state.entries.values(), (entry) => entry.filter.text);
  }

  isSubscribed(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    const key = options?.match === 'prefix' ? PREFIX_KEY + filter : filter;
    return this.#subscribers.get(subscriber)?.entries.has(key) ?? false;
  }

  /** How many subscribers this exact filter has (not how many a publish would reach: see countMatches). */
  subscriberCount(filter: string, options?: SubscribeOptions): number {
    const key = options?.match === 'prefix' ? PREFIX_KEY + filter : filter;
    return (this.#exact.get(key) ?? this.#patterns.get(key))?.members.size ?? 0;
  }

  /** Subscribers with at least one subscription. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Distinct filters with at least one subscriber. */
  get filterCount(): number {
    return this.#exact.size + this.#patterns.size;
  }

  /** Every distinct filter with subscribers (to resubscribe at a broker after a reconnect). */
  *filters(): IterableIterator<TopicFilter> {
    for (const entry of this.#exact.values()) yield entry.filter;
    for (const entry of this.#patterns.values()) yield entry.filter;
  }

  /**
   * Calls `visit` once for each subscriber matching `topic`, however many of its filters match.
   * The matches are collected first, so `visit` may subscribe, unsubscribe or publish; a
   * subscriber left with no subscription at all by an earlier visit is skipped. Returns the
   * number of visits. Throws PubSubError for an invalid topic name.
   */
  forEachSubscriber(topic: string, visit: (subscriber: S) => void): number {
    return this.collect(topic).forEach(visit);
  }

  /** The subscribers matching `topic` now, each once, to visit later (validates the topic first). */
  collect(topic: string): MatchedSubscribers<S> {
    return new MatchedSubscribers(this.#collect(topic));
  }

  /** The subscribers matching `topic`, each once. */
  match(topic: string): S[] {
    return this.#collect(topic).map((state) => state.subscriber);
  }

  /** How many subscribers a publish on `topic` would reach. */
  countMatches(topic: string): number {
    return this.#collect(topic).length;
  }

  #collect(topic: string): SubscriberState<S>[] {
    const levels = parseTopic(this.syntax, this.limits, topic);
    const mark = ++this.#mark;
    const out: SubscriberState<S>[] = [];
    const add = (entry: Entry<S>): void => {
      for (const state of entry.members) {
        this.#steps++;
        if (state.mark !== mark) {
          state.mark = mark;
          out.push(state);
        }
      }
    };
    this.#steps++;
    const exact = this.#exact.get(topic);
    if (exact !== undefined) add(exact);
    if (this.#patterns.size > 0) this.#walk(this.#root, levels, 0, add);
    return out;
  }

  #walk(node: TrieNode<S>, levels: readonly string[], depth: number, add: (entry: Entry<S>) => void): void {
    this.#steps++;
    if (node.below !== null) add(node.below);
    if (depth === levels.length) {
      if (node.here !== null) add(node.here);
      return;
    }
    const level = levels[depth]!;
    if (node.partials !== null) {
      for (const length of node.partialLengths!.keys()) {
        this.#steps++;
        if (length > level.length) continue;
        const entry = node.partials.get(length === level.length ? level : level.slice(0, length));
        if (entry !== undefined) add(entry);
      }
    }
    const child = node.children.get(level);
    if (child !== undefined) this.#walk(child, levels, depth + 1, add);
    if (node.any !== null) this.#walk(node.any, levels, depth + 1, add);
  }

  #createEntry(key: string, filter: TopicFilter): Entry<S> {
    const subscription: Subscription = Object.freeze({ filter: filter.text, match: filter.match });
    if (filter.match === 'exact') {
      const entry: Entry<S> = { key, filter, subscription, members: new Set(), node: null };
      this.#exact.set(key, entry);
      return entry;
    }
    let node = this.#root;
    for (const level of filter.levels) {
      this.#steps++;
      if (level === null) {
        node = node.any ??= new TrieNode(node, null);
      } else {
        let child = node.children.get(level);
        if (child === undefined) node.children.set(level, (child = new TrieNode(node, level)));
        node = child;
      }
    }
    const entry: Entry<S> = { key, filter, subscription, members: new Set(), node };
    if (filter.match === 'prefix') {
      (node.partials ??= new Map()).set(filter.partial, entry);
      const lengths = (node.partialLengths ??= new Map());
      lengths.set(filter.partial.length, (lengths.get(filter.partial.length) ?? 0) + 1);
    } else if (filter.rest) {
      node.below = entry;
    } else {
      node.here = entry;
    }
    this.#patterns.set(key, entry);
    return entry;
  }

  #leave(entry: Entry<S>, state: SubscriberState<S>): void {
    entry.members.delete(state);
    if (entry.members.size > 0) return;
    if (entry.node === null) {
      this.#exact.delete(entry.key);
    } else {
      this.#patterns.delete(entry.key);
      this.#detach(entry);
    }
    this.#onLast?.(entry.filter);
  }

  #detach(entry: Entry<S>): void {
    let node = entry.node!;
    const { filter } = entry;
    if (filter.match === 'prefix') {
      node.partials!.delete(filter.partial);
      const lengths = node.partialLengths!;
      const left = lengths.get(filter.partial.length)! - 1;
      if (left > 0) lengths.set(filter.partial.length, left);
      else lengths.delete(filter.partial.length);
      if (node.partials!.size === 0) node.partials = node.partialLengths = null;
    } else if (filter.rest) {
      node.below = null;
    } else {
      node.here = null;
    }
    // Prune the branch that no filter uses any more: O(levels).
    while (node.parent !== null && node.empty) {
      this.#steps++;
      const parent = node.parent;
      if (node.level === null) parent.any = null;
      else parent.children.delete(node.level);
      node = parent;
    }
  }
}

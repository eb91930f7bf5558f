import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PubSubError } from '../../src/pubsub/errors.js';
import {
  DEFAULT_TOPIC_LIMITS,
  MQTT_TOPICS,
  TopicRegistry,
  WAMP_TOPICS,
  filterMatches,
  parseFilter,
  parseTopic,
  registrySteps,
  type TopicFilter,
} from '../../src/pubsub/topics.js';

type Sub = { name: string };
const sub = (name: string): Sub => ({ name });
const names = (subs: Sub[]): string[] => subs.map((s) => s.name).sort();

function throwsTopic(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof PubSubError && error.code === 'PUBSUB_ERR_INVALID_TOPIC' && message.test(error.message));
}

describe('topic names and filters: validation', () => {
  const limits = { ...DEFAULT_TOPIC_LIMITS };

  it('refuses bad topic names with a clear error', () => {
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, ''), /empty/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'a//b'), /level 2 is empty/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, '/a'), /level 1 is empty/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'a/'), /level 2 is empty/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'a/+'), /only allowed in subscription filters/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'a/b#'), /only allowed in subscription filters/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'x'.repeat(257)), /longer than 256/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, Array(33).fill('a').join('/')), /more than 32 levels/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 'a/\ud800'), /lone surrogate/);
    throwsTopic(() => parseTopic(MQTT_TOPICS, limits, 42), /must be a string/);
    throwsTopic(() => parseTopic(WAMP_TOPICS, limits, 'com..x'), /level 2 is empty/);
    assert.deepEqual(parseTopic(MQTT_TOPICS, limits, 'x'.repeat(256)), ['x'.repeat(256)]);
    assert.deepEqual(parseTopic(MQTT_TOPICS, limits, 'a.b/c d/é😀'), ['a.b', 'c d', 'é😀']);
    assert.deepEqual(parseTopic(WAMP_TOPICS, limits, 'com.app+x.#'), ['com', 'app+x', '#']);
  });

  it('refuses bad filters and classifies good ones', () => {
    throwsTopic(() => parseFilter(MQTT_TOPICS, limits, 'a/#/b'), /must be the last level/);
    throwsTopic(() => parseFilter(MQTT_TOPICS, limits, 'a/b+'), /must be a whole level/);
    throwsTopic(() => parseFilter(MQTT_TOPICS, limits, 'a#'), /must be a whole level/);
    throwsTopic(() => parseFilter(MQTT_TOPICS, limits, 'a//b'), /level 2 is empty/);
    throwsTopic(() => parseFilter(MQTT_TOPICS, limits, 'a//b', true), /level 2 is empty/);
    const check = (filter: TopicFilter, match: string, levels: (string | null)[], rest: boolean): void => {
      assert.equal(filter.match, match);
      assert.deepEqual(filter.levels, levels);
      assert.equal(filter.rest, rest);
    };
    check(parseFilter(MQTT_TOPICS, limits, 'a/b'), 'exact', ['a', 'b'], false);
    check(parseFilter(MQTT_TOPICS, limits, 'a/+/c'), 'wildcard', ['a', null, 'c'], false);
    check(parseFilter(MQTT_TOPICS, limits, 'a/#'), 'wildcard', ['a'], true);
    check(parseFilter(MQTT_TOPICS, limits, '#'), 'wildcard', [], true);
    check(parseFilter(WAMP_TOPICS, limits, 'com..update'), 'wildcard', ['com', null, 'update'], false);
    const prefix = parseFilter(WAMP_TOPICS, limits, 'com.myapp.top', true);
    check(prefix, 'prefix', ['com', 'myapp'], false);
    assert.equal(prefix.partial, 'top');
    assert.equal(parseFilter(WAMP_TOPICS, limits, 'com.', true).partial, '');
  });

  it('checks its own options', () => {
    assert.throws(() => new TopicRegistry({ maxLength: 0 }), { code: 'PUBSUB_ERR_OPTIONS' });
    assert.throws(() => new TopicRegistry({ maxLength: 5000 }), { code: 'PUBSUB_ERR_OPTIONS' });
    assert.throws(() => new TopicRegistry({ syntax: { ...MQTT_TOPICS, separator: '::' } }), { code: 'PUBSUB_ERR_OPTIONS' });
    const registry = new TopicRegistry<Sub>({ maxLength: 8, maxLevels: 2 });
    throwsTopic(() => registry.subscribe(sub('s'), 'a/b/c'), /more than 2 levels/);
    throwsTopic(() => registry.match('abcdefghi'), /longer than 8/);
    assert.equal(registry.size, 0);
  });
});

describe('topic registry: matching', () => {
  // Every MQTT 5.0 §4.7 example, and the edges around them.
  const table: [filter: string, topic: string, matches: boolean][] = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/b', 'a', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/b', 'a/b', true],
    ['+/+', 'a/b', true],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c/d', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['+/#', 'a', true],
    ['+/b/#', 'a/b', true],
    ['+/b/#', 'a/c/b', false],
    ['a/+/c/#', 'a/x/c', true],
    ['a/+/c/#', 'a/x/c/y/z', true],
    ['a/+/c/#', 'a/x/d', false],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
  ];

  it('matches exact and wildcard filters (MQTT style)', () => {
    for (const [filter, topic, expected] of table) {
      const registry = new TopicRegistry<Sub>();
      const s = sub('s');
      registry.subscribe(s, filter);
      assert.equal(registry.match(topic).length, expected ? 1 : 0, `${filter} vs ${topic}`);
      const parsed = registry.parseFilter(filter);
      assert.equal(filterMatches(parsed, topic, registry.parseTopic(topic)), expected, `reference: ${filter} vs ${topic}`);
    }
  });

  it('matches WAMP wildcard and prefix subscriptions', () => {
    const registry = new TopicRegistry<Sub>({ syntax: WAMP_TOPICS });
    const wildcard = sub('wildcard');
    const prefix = sub('prefix');
    const exact = sub('exact');
    registry.subscribe(wildcard, 'com.myapp..userevent');
    registry.subscribe(prefix, 'com.myapp.topic.emergency', { match: 'prefix' });
    registry.subscribe(exact, 'com.myapp.topic.emergency');
    assert.deepEqual(names(registry.match('com.myapp.foo.userevent')), ['wildcard']);
    assert.deepEqual(names(registry.match('com.myapp.foo.userevent.x')), []);
    assert.deepEqual(names(registry.match('com.myapp.topic.emergency')), ['exact', 'prefix']);
    // WAMP: a prefix matches by string, across and inside levels.
    assert.deepEqual(names(registry.match('com.myapp.topic.emergency.11')), ['prefix']);
    assert.deepEqual(names(registry.match('com.myapp.topic.emergency-low')), ['prefix']);
    assert.deepEqual(names(registry.match('com.myapp.topic.emergenc')), []);
    assert.deepEqual(names(registry.match('com.myapp.topic')), []);
    // The same text as exact and as prefix are two subscriptions.
    assert.deepEqual(registry.topicsOf(exact), ['com.myapp.topic.emergency']);
    assert.deepEqual(registry.subscriptionsOf(prefix), [{ filter: 'com.myapp.topic.emergency', match: 'prefix' }]);
    assert.equal(registry.subscriberCount('com.myapp.topic.emergency'), 1);
    assert.equal(registry.subscriberCount('com.myapp.topic.emergency', { match: 'prefix' }), 1);
    assert.ok(registry.unsubscribe(prefix, 'com.myapp.topic.emergency', { match: 'prefix' }));
    assert.deepEqual(names(registry.match('com.myapp.topic.emergency.11')), []);
    assert.deepEqual(names(registry.match('com.myapp.topic.emergency')), ['exact']);
  });

  it('reports a subscriber once when several of its filters match', () => {
    const registry = new TopicRegistry<Sub>();
    const both = sub('both');
    const one = sub('one');
    for (const filter of ['chat/a', 'chat/+', 'chat/#', '#', '+/a']) registry.subscribe(both, filter);
    registry.subscribe(both, 'ch', { match: 'prefix' });
    registry.subscribe(one, 'chat/+');
    assert.deepEqual(names(registry.match('chat/a')), ['both', 'one']);
    let visits = 0;
    assert.equal(registry.forEachSubscriber('chat/a', () => visits++), 2);
    assert.equal(visits, 2);
    assert.equal(registry.countMatches('chat/a'), 2);
    assert.equal(registry.countMatches('other'), 1);
  });

  it('lets a visit unsubscribe others: a subscriber left with nothing is skipped', () => {
    const registry = new TopicRegistry<Sub>();
    const [a, b, c] = [sub('a'), sub('b'), sub('c')];
    for (const s of [a, b, c]) registry.subscribe(s, 't');
    registry.subscribe(c, 'other');
    const seen: string[] = [];
    registry.forEachSubscriber('t', (s) => {
      seen.push(s.name);
      if (s === a) {
        registry.unsubscribeAll(b);
        registry.unsubscribe(c, 't'); // c still has 'other': the message was already on its way
      }
    });
    assert.deepEqual(seen, ['a', 'c']);
  });

  it('tracks subscriptions, first and last subscribers of each filter, and prunes the trie', () => {
    const events: string[] = [];
    const registry = new TopicRegistry<Sub>({
      onFirst: (filter) => events.push(`+${filter.match}:${filter.text}`),
      onLast: (filter) => events.push(`-${filter.match}:${filter.text}`),
    });
    const [a, b] = [sub('a'), sub('b')];
    assert.equal(registry.subscribe(a, 'x/+'), true);
    assert.equal(registry.subscribe(a, 'x/+'), false);
    assert.equal(registry.subscribe(b, 'x/+'), true);
    assert.equal(registry.subscribe(a, 'x/y'), true);
    assert.equal(registry.subscribe(a, 'x/', { match: 'prefix' }), true);
    assert.deepEqual(registry.topicsOf(a), ['x/+', 'x/y', 'x/']);
    assert.ok(registry.isSubscribed(a, 'x/', { match: 'prefix' }));
    assert.ok(!registry.isSubscribed(a, 'x/'));
    assert.equal(registry.subscriberCount('x/+'), 2);
    assert.equal(registry.unsubscribe(a, 'nope'), false);
    assert.equal(registry.unsubscribeAll(a), 3);
    assert.equal(registry.unsubscribeAll(a), 0);
    assert.deepEqual(registry.topicsOf(a), []);
    assert.equal(registry.unsubscribe(b, 'x/+'), true);
    assert.deepEqual(events, ['+wildcard:x/+', '+exact:x/y', '+prefix:x/', '-exact:x/y', '-prefix:x/', '-wildcard:x/+']);
    assert.equal(registry.size, 0);
    assert.equal(registry.filterCount, 0);
    assert.deepEqual([...registry.filters()], []);
    // Pruned: a publish on an emptied registry does the work of an empty one.
    const fresh = new TopicRegistry<Sub>();
    const before = [registrySteps(registry), registrySteps(fresh)];
    registry.match('x/y');
    fresh.match('x/y');
    assert.equal(registrySteps(registry) - before[0]!, registrySteps(fresh) - before[1]!);
  });

  it('agrees with a naive reference on random subscriptions, unsubscriptions and topics', () => {
    // A small deterministic PRNG: failures reproduce.
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (const syntax of [MQTT_TOPICS, WAMP_TOPICS]) {
      const registry = new TopicRegistry<Sub>({ syntax });
      const { separator: sep, singleLevel: single, multiLevel: multi } = syntax;
      const words = ['a', 'b', 'ab', 'c'];
      const subscribers = Array.from({ length: 24 }, (_, i) => sub(`s${i}`));
      // The reference: every subscription as (subscriber, filter), matched one by one.
      const reference = new Map<Sub, Map<string, TopicFilter>>();
      const randomFilter = (): [string, boolean] => {
        const kind = random(10);
        const depth = 1 + random(4);
        const levels: string[] = [];
        for (let i = 0; i < depth; i++) levels.push(random(4) === 0 ? single : words[random(words.length)]!);
        if (kind === 0) {
          const text = levels.map((l) => l || 'a').join(sep);
          return [text.slice(0, 1 + random(text.length)), true];
        }
        if (kind === 1 && multi !== null) levels[levels.length - 1] = multi;
        const text = levels.join(sep);
        return text === '' ? ['a', false] : [text, false]; // WAMP: a lone wildcard level is no filter
      };
      const randomTopic = (): string => Array.from({ length: 1 + random(5) }, () => words[random(words.length)]).join(sep);
      for (let round = 0; round < 400; round++) {
        const s = subscribers[random(subscribers.length)]!;
        const op = random(10);
        if (op < 6) {
          const [text, prefix] = randomFilter();
          const options = prefix ? { match: 'prefix' as const } : undefined;
          const filter = registry.parseFilter(text, options);
          const mine = reference.get(s) ?? new Map<string, TopicFilter>();
          reference.set(s, mine);
          const key = `${filter.match === 'prefix'}:${text}`;
          assert.equal(registry.subscribe(s, text, options), !mine.has(key));
          mine.set(key, filter);
        } else if (op < 9) {
          const mine = reference.get(s);
          if (mine === undefined || mine.size === 0) continue;
          const keys = [...mine.keys()];
          const key = keys[random(keys.length)]!;
          const filter = mine.get(key)!;
          assert.ok(registry.unsubscribe(s, filter.text, filter.match === 'prefix' ? { match: 'prefix' } : undefined));
          mine.delete(key);
        } else {
          assert.equal(registry.unsubscribeAll(s), reference.get(s)?.size ?? 0);
          reference.delete(s);
        }
        for (let probe = 0; probe < 5; probe++) {
          const topic = randomTopic();
          const levels = topic.split(sep);
          const expected = subscribers.filter((candidate) =>
            [...(reference.get(candidate)?.values() ?? [])].some((filter) => filterMatches(filter, topic, levels)),
          );
          const got = registry.match(topic);
          assert.equal(new Set(got).size, got.length, `a subscriber reported twice for ${topic}`);
          assert.deepEqual(names(got), names(expected), `${syntax.name}: round ${round}, topic ${topic}`);
        }
      }
      // Empty it: every filter is gone.
      for (const s of subscribers) registry.unsubscribeAll(s);
      assert.equal(registry.filterCount, 0);
    }
  });
});

describe('topic registry: costs (counted steps, N against 8N)', () => {
  function populated(n: number): TopicRegistry<Sub> {
    const registry = new TopicRegistry<Sub>();
    for (let i = 0; i < n; i++) {
      const s = sub(`s${i}`);
      registry.subscribe(s, `room/${i}`);
      registry.subscribe(s, `user/${i}/+`);
      registry.subscribe(s, `feed/${i}/#`);
    }
    return registry;
  }

  const cost = (registry: TopicRegistry<Sub>, run: () => void): number => {
    const before = registrySteps(registry);
    run();
    return registrySteps(registry) - before;
  };

  it('subscribe, unsubscribe and unsubscribeAll cost the same with N or 8N topics', () => {
    const small = populated(500);
    const large = populated(4000);
    for (const filter of ['room/new', 'room/+/x', 'a/b/c/#']) {
      const [s1, s8] = [sub('x'), sub('x')];
      assert.equal(cost(small, () => small.subscribe(s1, filter)), cost(large, () => large.subscribe(s8, filter)), filter);
      assert.equal(cost(small, () => small.unsubscribe(s1, filter)), cost(large, () => large.unsubscribe(s8, filter)), filter);
    }
    const [s1, s8] = [sub('y'), sub('y')];
    for (const [registry, s] of [[small, s1], [large, s8]] as const) {
      registry.subscribe(s, 'room/1');
      registry.subscribe(s, 'user/+/z');
    }
    assert.equal(cost(small, () => small.unsubscribeAll(s1)), cost(large, () => large.unsubscribeAll(s8)));
  });

  it('a publish costs the same with N or 8N other topics and filters, and grows with its matches only', () => {
    const small = populated(500);
    const large = populated(4000);
    for (const topic of ['room/7', 'user/7/x', 'feed/7/a/b', 'nobody/here']) {
      assert.equal(cost(small, () => small.match(topic)), cost(large, () => large.match(topic)), topic);
    }
    // k subscribers of one topic against 8k: the work grows with the matches, not faster.
    const withMatches = (k: number): number => {
      const registry = populated(100);
      for (let i = 0; i < k; i++) registry.subscribe(sub(`m${i}`), 'room/shared');
      return cost(registry, () => registry.match('room/shared'));
    };
    const [k1, k8] = [withMatches(1000), withMatches(8000)];
    assert.ok(k8 <= 8 * k1 + 8, `${k1} steps for 1000 matches, ${k8} for 8000`);
    assert.ok(k8 >= 7000, `${k8} steps for 8000 matches`);
  });
});

// One shared timer for every deadline in the process (close timeouts, heartbeats), instead of a
// timer per connection: a connection that waits costs a Set entry, not a Timeout object.

export interface Tickable {
  tick(now: number): void;
}

const RESOLUTION_MS = 250;
const members = new Set<Tickable>();
let timer: NodeJS.Timeout | null = null;

/** A coarse clock, updated on every tick while anything is watched. */
export const clock = { now: Date.now() };

export function watch(member: Tickable): void {
  members.add(member);
  if (timer === null) {
    clock.now = Date.now();
    timer = setInterval(tickAll, RESOLUTION_MS);
    timer.unref();
  }
}

export function unwatch(member: Tickable): void {
  members.delete(member);
  if (members.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

function tickAll(): void {
  const now = (clock.now = Date.now());
  for (const member of members) member.tick(now);
}

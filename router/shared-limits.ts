// CourseGraph router: the per-client request budget and the per-user subscription cap, counted in
// Redis so that every router replica enforces one budget (ADR 0023), with this process's own counters
// as the fallback while Redis is unreachable (fail-open: requests keep being answered, each replica
// then allows a whole budget on its own).
//
// Keys (the router owns them): coursegraph:ratelimit:<window seconds>:<client> (a counter that expires
// with its window) and coursegraph:subscriptions:<user> (a sorted set: one member per open
// subscription, `<router instance>:<subscription>`, scored by a lease expiry that the owning router
// renews; a router that dies stops renewing, so its subscriptions stop counting when their lease ends).

import { createHash, randomUUID } from 'node:crypto';

import { Counter } from 'prom-client';

import type { SharedRedis } from './redis.ts';

type Store = 'redis' | 'local';

const decisions = new Counter({
  name: 'coursegraph_router_limit_decisions_total',
  help: 'Rate-limit and subscription-cap decisions, by where they were counted and their outcome.',
  labelNames: ['limit', 'store', 'decision'] as const,
});

/** A client or user key as a Redis key part: as is when short and printable, else its SHA-256. */
function keyPart(key: string): string {
  return key.length <= 128 && /^[\x21-\x7e]+$/.test(key) ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

// One round trip per request: count, start the window on the first request, say how long it has left.
// The PTTL check also repairs a counter left without an expiry (it would otherwise never reset).
const TAKE = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

// Admission: forget expired leases, count the live ones, add this one if under the cap. Times come
// from the Redis server's clock, so replicas with skewed clocks agree on what has expired.
const ADMIT = `
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowMs)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], nowMs + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

// Lease renewal of this router's open subscriptions: KEYS[i] holds member ARGV[i + 1]. Plain ZADD (not
// XX): a subscription admitted locally while Redis was down, or lost with a restarted Redis, counts again.
const RENEW = `
local now = redis.call('TIME')
local expiry = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, expiry, ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return #KEYS`;

interface LimitCommands {
  coursegraphTake(key: string, windowMs: number): Promise<[number, number]>;
  coursegraphAdmit(key: string, cap: number, member: string, leaseMs: number): Promise<number>;
  coursegraphRenew(...keysThenArgs: (string | number)[]): Promise<number>;
}

function commands(redis: SharedRedis): LimitCommands {
  const client = redis.client as unknown as LimitCommands & {
    defineCommand(name: string, definition: { numberOfKeys?: number; lua: string }): void;
  };
  if (!('coursegraphTake' in client)) {
    client.defineCommand('coursegraphTake', { numberOfKeys: 1, lua: TAKE });
    client.defineCommand('coursegraphAdmit', { numberOfKeys: 1, lua: ADMIT });
    client.defineCommand('coursegraphRenew', { lua: RENEW }); // number of keys given per call
  }
  return client;
}

/** A fixed-window count per client in this process: the fallback while Redis is unreachable. */
class LocalWindow {
  private windowStart = Date.now();
  private counts = new Map<string, number>();

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  /** Counts one request of `key`; undefined if allowed, else the seconds until the window ends. */
  take(key: string): number | undefined {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now - ((now - this.windowStart) % this.windowMs);
      this.counts = new Map();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count <= this.limit) return undefined;
    return Math.max(1, Math.ceil((this.windowStart + this.windowMs - now) / 1000));
  }
}

/**
 * The per-client request budget: `limit` requests per window of `windowSeconds`, counted in Redis (one
 * script per request) when it answers, else in this process.
 */
export class RequestBudget {
  private readonly local: LocalWindow;
  private readonly windowMs: number;

  constructor(
    private readonly limit: number,
    private readonly windowSeconds: number,
    private readonly redis: SharedRedis | undefined,
  ) {
    this.windowMs = windowSeconds * 1000;
    this.local = new LocalWindow(limit, this.windowMs);
  }

  /** Counts one request of `key`; undefined if allowed, else the seconds until its window ends. */
  async take(key: string): Promise<number | undefined> {
    const shared = await this.takeShared(key);
    const [store, retryAfter] = shared === null ? (['local', this.local.take(key)] as const) : (['redis', shared] as const);
    decisions.inc({ limit: 'rate', store, decision: retryAfter === undefined ? 'allowed' : 'refused' });
    return retryAfter;
  }

  /** The shared decision, or null when Redis cannot decide (not configured, down, slow). */
  private async takeShared(key: string): Promise<number | undefined | null> {
    const redis = this.redis;
    if (!redis?.connected) return null;
    try {
      const [count, ttlMs] = await commands(redis).coursegraphTake(
        `coursegraph:ratelimit:${this.windowSeconds}:${keyPart(key)}`,
        this.windowMs,
      );
      redis.succeeded();
      return count <= this.limit ? undefined : Math.max(1, Math.ceil(ttlMs / 1000));
    } catch (error) {
      redis.failed(error);
      return null;
    }
  }
}

/** An admitted subscription; release() frees its slot (once, whatever calls it). */
export interface SubscriptionSlot {
  release(): void;
}

/**
 * At most `cap` subscriptions open at once per user, across every router sharing the Redis; counted
 * in this process while Redis is unreachable (each router then allows `cap` on its own).
 */
export class SubscriptionSlots {
  /** Every subscription open on this router, however admitted: the local count and what to renew. */
  private readonly open = new Map<string, Map<string, string>>(); // user key -> member -> Redis key
  private readonly instance = randomUUID();
  private next = 0;
  private readonly timer?: NodeJS.Timeout;

  constructor(
    private readonly cap: number,
    private readonly leaseMs: number,
    private readonly redis: SharedRedis | undefined,
  ) {
    if (redis) {
      this.timer = setInterval(() => void this.renew(), Math.max(250, Math.floor(leaseMs / 3)));
      this.timer.unref();
    }
  }

  /** A slot for one more subscription of `key`, or undefined when the user already holds `cap`. */
  async admit(key: string): Promise<SubscriptionSlot | undefined> {
    const member = `${this.instance}:${(this.next += 1)}`;
    const redisKey = `coursegraph:subscriptions:${keyPart(key)}`;
    let store: Store = 'local';
    let admitted: boolean;
    const shared = await this.admitShared(redisKey, member);
    if (shared !== null) {
      store = 'redis';
      admitted = shared;
    } else {
      admitted = (this.open.get(key)?.size ?? 0) < this.cap;
    }
    decisions.inc({ limit: 'subscriptions', store, decision: admitted ? 'allowed' : 'refused' });
    if (!admitted) return undefined;

    const mine = this.open.get(key) ?? new Map<string, string>();
    mine.set(member, redisKey);
    this.open.set(key, mine);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        mine.delete(member);
        if (mine.size === 0 && this.open.get(key) === mine) this.open.delete(key);
        // Redis down: the member is no longer renewed and stops counting when its lease ends.
        if (this.redis?.connected) this.redis.client.zrem(redisKey, member).catch(() => undefined);
      },
    };
  }

  /** Frees this router's slots in Redis (a clean shutdown) and stops renewing them. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (!this.redis?.connected) return;
    const pipeline = this.redis.client.pipeline();
    for (const mine of this.open.values()) for (const [member, redisKey] of mine) pipeline.zrem(redisKey, member);
    await pipeline.exec().catch(() => undefined);
  }

  private async admitShared(redisKey: string, member: string): Promise<boolean | null> {
    const redis = this.redis;
    if (!redis?.connected) return null;
    try {
      const admitted = await commands(redis).coursegraphAdmit(redisKey, this.cap, member, this.leaseMs);
      redis.succeeded();
      return admitted === 1;
    } catch (error) {
      redis.failed(error);
      return null;
    }
  }

  private async renew(): Promise<void> {
    const redis = this.redis;
    if (!redis?.connected || this.open.size === 0) return;
    const keys: string[] = [];
    const members: string[] = [];
    for (const mine of this.open.values()) {
      for (const [member, redisKey] of mine) {
        keys.push(redisKey);
        members.push(member);
      }
    }
    try {
      await commands(redis).coursegraphRenew(keys.length, ...keys, this.leaseMs, ...members);
      redis.succeeded();
    } catch (error) {
      redis.failed(error);
    }
  }
}

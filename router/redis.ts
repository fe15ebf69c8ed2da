// CourseGraph router: the one Redis connection that the shared limits and the response cache use
// (ADR 0023). Unset COURSEGRAPH_REDIS_URL means no Redis: every limit counts in this process only.
//
// A slow or absent Redis must never slow requests down: commands time out after tens of milliseconds,
// nothing is queued while disconnected (a command fails at once), and the client reconnects on its own
// with a capped backoff. Callers fall back to their local state when a command fails; this module
// tracks whether Redis is usable, logs each change of that state once, and exports it as a metric.

import { readFileSync } from 'node:fs';

import type { Logger } from '@graphql-hive/gateway';
import { Redis, type RedisOptions } from 'ioredis';
import { Gauge } from 'prom-client';

export interface RedisSettings {
  url?: string;
  caFile?: string;
  commandTimeoutMs: number;
}

const redisUp = new Gauge({
  name: 'coursegraph_router_redis_up',
  help: 'Whether the shared Redis answers (1) or the router counts limits locally (0).',
});

/** A Redis URL fit for logs and readiness details: the password replaced. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '(unparseable)';
  }
}

/** Consecutive command failures (timeouts) that count as "Redis down" while the connection stays open. */
const FAILURES_BEFORE_DOWN = 3;

export class SharedRedis {
  readonly client: Redis;
  private up = false;
  private failures = 0;
  private loggedDown = false;
  private since = new Date();
  private reason = 'connecting';

  constructor(
    private readonly settings: RedisSettings & { url: string },
    private readonly log: Logger,
  ) {
    this.client = new Redis(settings.url, this.options());
    this.client.on('ready', () => this.markUp());
    // ioredis emits 'error' for every failed (re)connection attempt; the state change is logged once.
    this.client.on('error', (error: Error) => this.markDown(error.message));
    this.client.on('close', () => {
      if (this.up) this.markDown('connection closed');
    });
  }

  /** Options for this client and for each duplicate (a subscriber connection). */
  options(): RedisOptions {
    const { url, caFile, commandTimeoutMs } = this.settings;
    const tls = url.startsWith('rediss://') ? { ...(caFile ? { ca: readFileSync(caFile) } : {}) } : undefined;
    return {
      ...(tls ? { tls } : {}),
      commandTimeout: commandTimeoutMs,
      connectTimeout: 2000,
      enableOfflineQueue: false, // disconnected: fail at once, the caller counts locally
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
      connectionName: 'coursegraph-router',
    };
  }

  /** Whether commands can be sent now (a command can still fail or time out). */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  get healthy(): boolean {
    return this.up;
  }

  /** Callers report each command's outcome: repeated timeouts on an open connection also mean "down". */
  succeeded(): void {
    this.failures = 0;
    if (!this.up && this.connected) this.markUp();
  }

  failed(error: unknown): void {
    this.failures += 1;
    if (this.failures >= FAILURES_BEFORE_DOWN || !this.connected) {
      this.markDown(error instanceof Error ? error.message : String(error));
    }
  }

  describe(): Record<string, unknown> {
    return {
      configured: true,
      url: redactedUrl(this.settings.url),
      up: this.up,
      since: this.since.toISOString(),
      ...(this.up ? {} : { reason: this.reason }),
    };
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  private markUp(): void {
    this.failures = 0;
    if (this.up) return;
    this.up = true;
    this.loggedDown = false;
    this.since = new Date();
    redisUp.set(1);
    this.log.info({ redis: redactedUrl(this.settings.url) }, 'Redis is up: limits are shared');
  }

  private markDown(reason: string): void {
    this.reason = reason;
    if (!this.up && this.loggedDown) return; // logged once per state change
    this.up = false;
    this.loggedDown = true;
    this.since = new Date();
    redisUp.set(0);
    this.log.warn(
      { redis: redactedUrl(this.settings.url), reason },
      'Redis is unreachable: limits are counted by this router alone until it is back',
    );
  }
}

/** The shared Redis, or undefined without COURSEGRAPH_REDIS_URL. */
export function connectRedis(settings: RedisSettings, log: Logger): SharedRedis | undefined {
  redisUp.set(0);
  if (!settings.url) {
    log.info('COURSEGRAPH_REDIS_URL is not set: limits are counted by this router alone, no response cache');
    return undefined;
  }
  if (!/^rediss?:\/\//.test(settings.url)) {
    throw new Error('COURSEGRAPH_REDIS_URL must be a redis:// or rediss:// URL');
  }
  if (settings.caFile) {
    try {
      readFileSync(settings.caFile);
    } catch (error) {
      throw new Error(`COURSEGRAPH_REDIS_CA_FILE: cannot read ${settings.caFile} (${(error as Error).message})`);
    }
  }
  return new SharedRedis({ ...settings, url: settings.url }, log);
}

// CourseGraph router: the shared response cache of public reads (ADR 0024).
//
// What is cached: anonymous HTTP queries (no Authorization header: nothing about the viewer) whose root
// fields are all public reads: `courses`, `course` and `verifyCertificate` (catalog pages, course
// outlines, certificate checks). A signed-in answer is personal (instructors see their drafts, learners
// their enrollment), so it is never read from nor written to the cache; nor are WebSocket operations,
// mutations or other queries. Results with errors are never cached.
//
// Where: Redis, keys `coursegraph:response-cache:v<catalog version>:<sha256 of the subgraph endpoints,
// document, variables and operation name>`, each with the TTL COURSEGRAPH_ROUTER_RESPONSE_CACHE_TTL_SECONDS. The catalog version
// comes from the catalog change signal (docs/adr/0022): GET coursegraph:catalog:version at each
// (re)connect, then every message of channel coursegraph:catalog. A change of the catalog changes every
// key, so nothing needs deleting; old entries expire. While the router is not subscribed (Redis down,
// reconnecting) it neither reads nor writes the cache.
//
// The plugin is GraphQL Yoga's response cache (what Hive Gateway's `responseCaching` option runs), with
// a store of our own: the gateway's generic one writes two index keys per entity of every response, for
// invalidation by entity that the version makes unnecessary.

import type { GatewayPlugin, Logger } from '@graphql-hive/gateway';
import { hashSHA256, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { getOperationAST, Kind, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Redis } from 'ioredis';
import { Counter } from 'prom-client';

import type { SharedRedis } from './redis.ts';

const CACHED_ROOT_FIELDS = new Set(['courses', 'course', 'verifyCertificate', '__typename']);
// A cheap look at the text before the lookup: a document naming none of these cannot be a public read.
const MAY_READ_PUBLIC_FIELDS = /\b(?:courses?|verifyCertificate)\b/;
const KEY_PREFIX = 'coursegraph:response-cache:';
const VERSION_KEY = 'coursegraph:catalog:version';
const CHANNEL = 'coursegraph:catalog';

const events = new Counter({
  name: 'coursegraph_router_response_cache_total',
  help: 'Response cache events: hit (served from Redis), store (an answer written), bypass (a public read not cached: not subscribed to the catalog signal).',
  labelNames: ['event'] as const,
});

/** Whether an operation only reads public root fields (no fragments at the root: not worth the walk). */
function readsOnlyPublicFields(document: DocumentNode, operationName?: string | null): boolean {
  const operation = getOperationAST(document, operationName);
  return (
    operation?.operation === 'query' &&
    operation.selectionSet.selections.every(
      (selection) => selection.kind === Kind.FIELD && CACHED_ROOT_FIELDS.has(selection.name.value),
    )
  );
}

/**
 * The catalog version that every cache key carries: known only while subscribed to the signal's channel
 * (undefined otherwise, and the cache is bypassed). Reconnects are ioredis's; after each, the channel is
 * subscribed first and the version read second, so no change in between is missed.
 */
class CatalogVersion {
  private subscriber: Redis;
  private current: number | undefined;
  private syncing = false;
  private seenWhileSyncing = 0; // messages that may arrive before the GET's answer

  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: SharedRedis,
    private readonly log: Logger,
  ) {
    this.subscriber = redis.client.duplicate({ ...redis.options(), autoResubscribe: false, connectionName: 'coursegraph-router-catalog' });
    this.subscriber.on('error', () => undefined); // the state is logged by the main connection
    this.subscriber.on('close', () => this.lost('subscription closed'));
    this.subscriber.on('ready', () => void this.sync());
    this.subscriber.on('message', (_channel: string, message: string) => {
      const version = Number(message);
      if (!Number.isInteger(version)) return;
      // Within one connection versions only grow; a restarted Redis starts over, and we reconnect.
      if (this.current !== undefined) this.current = Math.max(this.current, version);
      else if (this.syncing) this.seenWhileSyncing = Math.max(this.seenWhileSyncing, version);
    });
    // A subscription or read that failed (a timeout) is tried again.
    this.timer = setInterval(() => void this.sync(), 1000);
    this.timer.unref();
  }

  get version(): number | undefined {
    return this.current;
  }

  describe(): Record<string, unknown> {
    return { subscribed: this.current !== undefined, catalogVersion: this.current ?? null };
  }

  close(): void {
    clearInterval(this.timer);
    this.subscriber.disconnect();
  }

  private async sync(): Promise<void> {
    if (this.current !== undefined || this.syncing || this.subscriber.status !== 'ready') return;
    this.syncing = true;
    this.seenWhileSyncing = 0;
    try {
      await this.subscriber.subscribe(CHANNEL);
      const stored = Number((await this.redis.client.get(VERSION_KEY)) ?? 0);
      if (this.subscriber.status !== 'ready') return; // lost meanwhile: the next ready syncs again
      this.current = Math.max(Number.isInteger(stored) ? stored : 0, this.seenWhileSyncing);
      this.log.info({ catalogVersion: this.current }, 'response cache on: subscribed to the catalog signal');
    } catch (error) {
      this.log.debug({ reason: (error as Error).message }, 'catalog signal: subscribing failed; retrying');
    } finally {
      this.syncing = false;
    }
  }

  private lost(reason: string): void {
    if (this.current === undefined) return;
    this.current = undefined;
    this.log.warn({ reason }, 'response cache bypassed: not subscribed to the catalog signal');
  }
}

/** The envelop cache interface over Redis; a failing Redis is a miss, never an error of the request. */
function redisStore(redis: SharedRedis) {
  return {
    async get(key: string): Promise<ExecutionResult | undefined> {
      if (!redis.connected) return undefined;
      try {
        const stored = await redis.client.get(KEY_PREFIX + key);
        if (stored === null) return undefined;
        events.inc({ event: 'hit' });
        return JSON.parse(stored) as ExecutionResult;
      } catch {
        return undefined;
      }
    },
    set(key: string, result: ExecutionResult, _entities: unknown, ttlMs: number): void {
      if (!redis.connected || !Number.isFinite(ttlMs)) return;
      // Not awaited: the answer does not wait for the write.
      redis.client.set(KEY_PREFIX + key, JSON.stringify(result), 'PX', Math.ceil(ttlMs)).then(
        () => events.inc({ event: 'store' }),
        () => undefined,
      );
    },
    invalidate(): void {
      // Nothing to do: a catalog change moves every key to the new version.
    },
  };
}

export interface SharedResponseCache {
  plugins: GatewayPlugin[];
  describe(): Record<string, unknown>;
  close(): void;
}

/**
 * The response cache, or undefined without Redis or with a TTL of 0 (ADR 0024). `graph` names the
 * subgraphs this router calls: routers that call others (another deployment, another test stack on the
 * same Redis) never share answers; replicas of one deployment, configured alike, do.
 */
export function sharedResponseCache(
  redis: SharedRedis | undefined,
  ttlSeconds: number,
  graph: string,
  log: Logger,
): SharedResponseCache | undefined {
  if (!redis || ttlSeconds === 0) return undefined;
  const catalog = new CatalogVersion(redis, log);
  // Decided once per request, when its key is built: anonymous HTTP, and the version known then.
  const keyed = new WeakMap<object, boolean>();
  // Set as execution starts, from the parsed document: only public root fields.
  const publicRead = new WeakMap<object, boolean>();

  const anonymousHttp = (request: Request | undefined, context: Record<string, any> | undefined) =>
    !context?.socket && !context?.connectionParams && !request?.headers?.get('authorization');

  const recordPublicReads: GatewayPlugin = {
    onExecute({ args }) {
      const context = args.contextValue as object;
      publicRead.set(context, readsOnlyPublicFields(args.document, args.operationName));
      const notSubscribed = keyed.get(context) === false && catalog.version === undefined;
      if (notSubscribed && publicRead.get(context) && anonymousHttp((context as any).request, context as any)) {
        events.inc({ event: 'bypass' });
      }
    },
  };

  const responseCache = useResponseCache({
    cache: redisStore(redis),
    ttl: ttlSeconds * 1000,
    session: () => null, // only anonymous requests are cached: there is no session to tell apart
    includeExtensionMetadata: false,
    enabled(request: Request, context: Record<string, any>) {
      const decided = keyed.get(context);
      if (decided === undefined) return anonymousHttp(request, context) && catalog.version !== undefined; // If-None-Match
      return decided && publicRead.get(context) !== false;
    },
    async buildResponseCacheKey(parameters) {
      const version = catalog.version;
      const cacheable =
        version !== undefined &&
        anonymousHttp(parameters.request, parameters.context as any) &&
        MAY_READ_PUBLIC_FIELDS.test(parameters.documentString);
      keyed.set(parameters.context as object, cacheable);
      if (!cacheable) return 'not-cached';
      const { documentString, operationName, variableValues } = parameters;
      // JSON, not a joined string: no crafted document can make another request's key.
      const hash = await hashSHA256(JSON.stringify([graph, documentString, operationName ?? null, variableValues ?? {}]));
      return `v${version}:${hash}`;
    },
  } as never) as unknown as GatewayPlugin;

  return {
    // The recorder runs first: the cache's execute hook asks `enabled`, which reads what it recorded.
    plugins: [recordPublicReads, responseCache],
    describe: () => ({ enabled: true, ttlSeconds, ...catalog.describe() }),
    close: () => catalog.close(),
  };
}

// CourseGraph router: GraphQL Hive Gateway configuration.
//
// Start (see router/README.md):
//   router/node_modules/.bin/hive-gateway supergraph -c router/gateway.config.ts
//
// Every setting comes from the environment, with the dev defaults of DESIGN.md §6a. Hive Gateway
// loads this TypeScript file itself (its bundled @graphql-hive/importer transpiles it); no build.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import {
  ConsoleLogWriter,
  createRemoteJwksSigningKeyProvider,
  defineConfig,
  extractFromHeader,
  JSONLogWriter,
  Logger,
  type GatewayPlugin,
} from '@graphql-hive/gateway';
import { openTelemetrySetup } from '@graphql-hive/gateway/opentelemetry/setup';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { AlwaysOnSampler, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { GraphQLError, type ValidationContext } from 'graphql';
import { maskError as yogaMaskError, type MaskError } from 'graphql-yoga';

import { Code, CODES, codeForStatus, GATEWAY_CODES, UNAVAILABLE_RETRY_AFTER_SECONDS } from './codes.ts';
import { connectRedis } from './redis.ts';
import { sharedResponseCache } from './response-cache.ts';
import { RequestBudget, SubscriptionSlots } from './shared-limits.ts';
import { useStatusEndpoints } from './status.ts';

const ROUTER_DIR = dirname(fileURLToPath(import.meta.url));
const env = process.env;

// The codes this file answers, from codes.json (router/codes.ts); read here, at start-up.
const { UNAUTHENTICATED, BAD_USER_INPUT, RATE_LIMITED, INTERNAL, UNAVAILABLE } = Code;

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

function str(name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value ? value : fallback;
}

function int(name: string, fallback: number, min = 0): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function list(name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined) return fallback;
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

const PROFILES = ['dev', 'test', 'production'] as const;
type Profile = (typeof PROFILES)[number];
const profile = str('COURSEGRAPH_PROFILE', 'dev') as Profile;
if (!PROFILES.includes(profile)) {
  throw new Error(`COURSEGRAPH_PROFILE must be one of ${PROFILES.join(', ')}, got "${profile}"`);
}
const isProduction = profile === 'production';

const settings = {
  host: str('COURSEGRAPH_ROUTER_HOST', '127.0.0.1'),
  port: int('COURSEGRAPH_ROUTER_PORT', 4000, 1),
  supergraphPath: (() => {
    const path = str('COURSEGRAPH_SUPERGRAPH_PATH', resolve(ROUTER_DIR, 'supergraph.graphql'));
    return isAbsolute(path) ? path : resolve(process.cwd(), path);
  })(),
  jwksUrl: str('COURSEGRAPH_JWKS_URL', 'http://127.0.0.1:4001/.well-known/jwks.json'),
  jwtIssuer: str('COURSEGRAPH_JWT_ISSUER', 'coursegraph'),
  jwtAudience: str('COURSEGRAPH_JWT_AUDIENCE', 'coursegraph-api'),
  jwtAlgorithms: list('COURSEGRAPH_JWT_ALGORITHMS', ['RS256']),
  maxDepth: int('COURSEGRAPH_ROUTER_MAX_DEPTH', 12, 1),
  maxTokens: int('COURSEGRAPH_ROUTER_MAX_TOKENS', 2000, 1),
  maxAliases: int('COURSEGRAPH_ROUTER_MAX_ALIASES', 30, 0),
  maxCost: int('COURSEGRAPH_ROUTER_MAX_COST', 5000, 0), // 0 disables demand control
  costListSize: int('COURSEGRAPH_ROUTER_COST_LIST_SIZE', 10, 0),
  // Like rest-compat's cap: the parsed body (and its variables) must fit comfortably in memory.
  maxBodyBytes: int('COURSEGRAPH_ROUTER_MAX_BODY_BYTES', 8 * 1024 * 1024, 1),
  // Open subscriptions (WebSocket or SSE) per user, or per client address for anonymous ones; 0: no cap.
  maxSubscriptions: int('COURSEGRAPH_ROUTER_MAX_SUBSCRIPTIONS', 10, 0),
  // How long an open subscription counts in Redis unless its router renews it (a dead router's expire).
  subscriptionLeaseSeconds: int('COURSEGRAPH_ROUTER_SUBSCRIPTION_LEASE_SECONDS', 30, 1),
  rateLimit: int('COURSEGRAPH_ROUTER_RATE_LIMIT', 600, 0), // requests per window; 0 disables
  rateLimitWindowSeconds: int('COURSEGRAPH_ROUTER_RATE_LIMIT_WINDOW_SECONDS', 60, 1),
  rateLimitBy: str('COURSEGRAPH_ROUTER_RATE_LIMIT_BY', 'ip'),
  trustedProxyHops: int('COURSEGRAPH_ROUTER_TRUSTED_PROXY_HOPS', 0, 0),
  // Proxies whose X-Forwarded-For is believed: rest-compat and load balancers. Loopback and private
  // networks by default, as Rails does: clients reach the router from outside through them.
  trustedProxies: list('COURSEGRAPH_ROUTER_TRUSTED_PROXIES', [
    '127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7',
  ]),
  // Shared limits (ADR 0023): unset, every limit counts in this process only.
  redisUrl: env.COURSEGRAPH_REDIS_URL?.trim() || undefined,
  redisCaFile: env.COURSEGRAPH_REDIS_CA_FILE?.trim() || undefined,
  // A slow Redis must not slow every request: past this, the request is counted locally.
  redisTimeoutMs: int('COURSEGRAPH_ROUTER_REDIS_TIMEOUT_MS', 50, 1),
  // Anonymous public reads cached in Redis (ADR 0024); 0 disables.
  responseCacheTtlSeconds: int('COURSEGRAPH_ROUTER_RESPONSE_CACHE_TTL_SECONDS', 60, 0),
  corsOrigins: list('COURSEGRAPH_CORS_ORIGINS', ['http://localhost:3000', 'http://127.0.0.1:3000']),
  // Shared with the Python services, which take INFO, WARNING, ...: accept their spelling too.
  logLevel: str('COURSEGRAPH_LOG_LEVEL', 'info').toLowerCase().replace('warning', 'warn'),
  logFormat: str('COURSEGRAPH_LOG_FORMAT', 'json'),
};

const VERIFIABLE_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
for (const alg of settings.jwtAlgorithms) {
  // Only asymmetric algorithms: HS* would let anyone holding the public key mint tokens.
  if (!VERIFIABLE_ALGORITHMS.includes(alg)) {
    throw new Error(`COURSEGRAPH_JWT_ALGORITHMS: unsupported algorithm "${alg}" (allowed: ${VERIFIABLE_ALGORITHMS.join(', ')})`);
  }
}
if (settings.jwtAlgorithms.length === 0) throw new Error('COURSEGRAPH_JWT_ALGORITHMS is empty');
if (!['ip', 'sub'].includes(settings.rateLimitBy)) {
  throw new Error(`COURSEGRAPH_ROUTER_RATE_LIMIT_BY must be "ip" or "sub", got "${settings.rateLimitBy}"`);
}
if (!['debug', 'info', 'warn', 'error', 'trace'].includes(settings.logLevel)) {
  throw new Error(`COURSEGRAPH_LOG_LEVEL must be trace, debug, info, warn or error`);
}
for (const origin of settings.corsOrigins) {
  if (origin === '*' || !/^https?:\/\/[^/]+$/.test(origin)) {
    throw new Error(`COURSEGRAPH_CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port])`);
  }
}

const trustedProxies = new BlockList();
for (const entry of settings.trustedProxies) {
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (!family || rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    throw new Error(`COURSEGRAPH_ROUTER_TRUSTED_PROXIES: "${entry}" is not an address or a network (address/bits)`);
  }
  trustedProxies.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

// JSON lines by default (one object per line on stdout/stderr); never log credentials.
const log = new Logger({
  level: settings.logLevel as 'info',
  writers: [settings.logFormat === 'pretty' ? new ConsoleLogWriter() : new JSONLogWriter()],
  redact: {
    paths: [
      'connectionParams.Authorization',
      'connectionParams.authorization',
      'headers.authorization',
      'headers.Authorization',
      'headers.cookie',
      'payload.token',
    ],
    censor: '[redacted]',
  },
});

// ---------------------------------------------------------------------------------------------
// Tracing (OpenTelemetry): on when an OTLP endpoint is set, with the standard variables the Python
// services read too (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; the exporter
// reads them and OTEL_EXPORTER_OTLP_HEADERS itself). Spans go out over OTLP/HTTP, protobuf like the
// Python services', as service "router"; the caller's traceparent is the parent of the router's spans,
// and each subgraph request carries the router's own.
// ---------------------------------------------------------------------------------------------

const tracing =
  Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) &&
  env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
if (tracing) {
  openTelemetrySetup({
    log,
    contextManager: new AsyncLocalStorageContextManager(),
    resource: { serviceName: 'router' },
    // The caller's sampling decision holds (as in the Python services' default sampler).
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    traces: { exporter: new OTLPTraceExporter() },
  });
}
const UNTRACED_PATHS = new Set(['/healthcheck', '/readiness', '/metrics']);

// ---------------------------------------------------------------------------------------------
// Subgraph URLs: COURSEGRAPH_SUBGRAPH_URL_<NAME> overrides the routing_url composed into the
// supergraph for subgraph <name> (upper-cased, non-alphanumerics as "_").
// ---------------------------------------------------------------------------------------------

function subgraphNamesInSupergraph(path: string): string[] {
  if (!existsSync(path)) return [];
  const sdl = readFileSync(path, 'utf8');
  return [...sdl.matchAll(/@join__graph\(\s*name:\s*"([^"]+)"/g)].map((m) => m[1]);
}

function envKey(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const subgraphUrlOverrides: Record<string, { location: string }> = {};
{
  const known = subgraphNamesInSupergraph(settings.supergraphPath);
  const prefix = 'COURSEGRAPH_SUBGRAPH_URL_';
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix) || !value?.trim()) continue;
    const suffix = key.slice(prefix.length);
    const url = value.trim();
    if (!/^https?:\/\/./.test(url)) throw new Error(`${key} must be an http(s) URL, got "${url}"`);
    const name = known.find((candidate) => envKey(candidate) === suffix) ?? suffix.toLowerCase();
    if (known.length > 0 && !known.includes(name)) {
      log.warn({ variable: key, subgraphs: known }, 'no such subgraph in the supergraph; override ignored');
    }
    subgraphUrlOverrides[name] = { location: url };
  }
}

// ---------------------------------------------------------------------------------------------
// JWT verification
// ---------------------------------------------------------------------------------------------

const jwksProvider = createRemoteJwksSigningKeyProvider({
  jwksUri: settings.jwksUrl,
  cache: true, // keys cached per kid; an unknown kid triggers a refetch (key rotation)
  cacheMaxAge: 10 * 60 * 1000,
  rateLimit: true, // at most 10 JWKS fetches a minute, whatever kids clients send
  jwksRequestsPerMinute: 10,
  timeout: 5000,
});

// A token whose kid is not in the JWKS must be an authentication failure (401). The plugin turns
// a provider that yields no key into "Authentication is not available" (a 500), so an unknown
// kid gets a key that verifies nothing instead. A JWKS that cannot be fetched (the auth service is
// down or still starting) becomes UNAVAILABLE (see maskError).
const keyThatVerifiesNothing = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

async function signingKeyFor(kid?: string): Promise<string> {
  try {
    return await jwksProvider(kid);
  } catch (error) {
    const name = (error as { name?: string } | null)?.name;
    if (name === 'SigningKeyNotFoundError' || name === 'JwksRateLimitError') {
      log.debug({ kid, reason: name }, 'JWT signed with a key the JWKS does not hold');
      return keyThatVerifiesNothing;
    }
    throw error; // the plugin logs it, then refuses the request (see maskError)
  }
}

function authorizationFromConnectionParams(params: unknown): string | undefined {
  if (!params || typeof params !== 'object') return undefined;
  const record = params as Record<string, unknown>;
  const value = record.authorization ?? record.Authorization;
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

// WebSocket clients (graphql-ws) cannot set headers: they pass `Authorization: Bearer ...` in the
// connection_init payload.
const extractFromWebSocketConnectionParams = ({ serverContext }: { serverContext: Record<string, unknown> }) => {
  const authorization = authorizationFromConnectionParams(serverContext?.connectionParams);
  if (!authorization) return undefined;
  const [prefix, token, ...rest] = authorization.split(/\s+/);
  if (prefix !== 'Bearer' || !token || rest.length > 0) {
    throw new GraphQLError('Invalid JWT authentication token prefix.', {
      extensions: { http: { status: 400 } },
    });
  }
  return { prefix, token };
};

// ---------------------------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------------------------

const VARIABLE_COERCION = /^Variable "\$[_A-Za-z][_0-9A-Za-z]*" (got invalid value|of required type|of non-null type)/;
// Messages of @graphql-yoga/plugin-jwt's rejections (and of our connectionParams extractor).
const JWT_REJECTIONS = new Set([
  'Unauthenticated',
  'Invalid authentication token provided',
  'Invalid JWT authentication token prefix.',
  'Authentication header was set, but token is missing.',
]);

type HttpExtension = { status?: number; headers?: Record<string, string>; spec?: boolean };

/**
 * Gives every error the router answers with an `extensions.code` from CourseGraph's fixed set
 * (DESIGN.md §8, declared in coursegraph/codes.py). Rejected credentials become 401 UNAUTHENTICATED with
 * a WWW-Authenticate header. Codes already in the set (from subgraphs or our limit rules) are kept; the
 * gateway's own are translated; any other error is judged by its HTTP status, else INTERNAL.
 */
function normalizeError(error: unknown): void {
  if (!(error instanceof GraphQLError)) return;
  const extensions = error.extensions as Record<string, unknown>;
  const code = typeof extensions.code === 'string' ? extensions.code : undefined;
  const http = (extensions.http ?? undefined) as HttpExtension | undefined;
  if (code && CODES.has(code)) return;
  if (!code && (http?.status === 401 || (http?.status === 400 && JWT_REJECTIONS.has(error.message)))) {
    extensions.code = UNAUTHENTICATED;
    extensions.http = {
      ...http,
      spec: false,
      status: 401,
      headers: { ...http?.headers, 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    };
    return;
  }
  if (code && Object.hasOwn(GATEWAY_CODES, code)) {
    extensions.code = GATEWAY_CODES[code];
    return;
  }
  // Variables that do not fit their types (graphql-js's coercion messages). The Rust query planner's
  // executor raises them with no code and no HTTP status, where the JavaScript one said 400.
  if (!code && VARIABLE_COERCION.test(error.message)) {
    extensions.code = BAD_USER_INPUT;
    return;
  }
  extensions.code = http?.status && http.status >= 400 ? codeForStatus(http.status) : INTERNAL;
}

// What @graphql-yoga/plugin-jwt throws when no provider could give the key: the JWKS is unreachable.
const NO_SIGNING_KEY = 'Authentication is not available at the moment.';

/**
 * Unexpected errors are masked ("Unexpected error.", INTERNAL), but for the JWKS that cannot be fetched
 * while the auth service is down or starting: UNAVAILABLE, 503 with Retry-After; the request passes later.
 */
const maskError: MaskError = (error, message, isDev) => {
  if (!(error instanceof Error) || error instanceof GraphQLError || error.message !== NO_SIGNING_KEY) {
    return yogaMaskError(error, message, isDev);
  }
  return new GraphQLError('The service that verifies sign-ins is not available yet; retry in a moment.', {
    extensions: {
      code: UNAVAILABLE,
      retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS,
      http: { status: 503, headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } },
    },
  });
};

/**
 * The code of a subgraph request that failed without a GraphQL answer: the gateway's (no answer at all:
 * connection refused or reset, timeout), else the HTTP status's (a proxy's 503 in front of a starting
 * subgraph). Only such errors carry `response`; a subgraph's own GraphQL errors keep their codes.
 */
function subgraphFailureCode(error: GraphQLError): string | undefined {
  const extensions = error.extensions as { code?: unknown; response?: { status?: unknown } };
  if (typeof extensions.code === 'string' && Object.hasOwn(GATEWAY_CODES, extensions.code)) {
    return GATEWAY_CODES[extensions.code];
  }
  const status = extensions.response?.status;
  return typeof status === 'number' ? codeForStatus(status) : undefined;
}

/**
 * A subgraph that is down or still starting answers UNAVAILABLE with `retryAfter` (seconds), not an
 * unexpected INTERNAL: the same request succeeds once it is up, and rest-compat answers 503 with
 * Retry-After. Rewritten as the subgraph's result arrives, before Hive Gateway masks it (its message
 * names the subgraph's address, which clients must not see).
 */
function useUnavailableSubgraphs(): GatewayPlugin {
  const unavailable = (error: GraphQLError, subgraph: string) =>
    new GraphQLError('A service this request needs is not available yet; retry in a moment.', {
      nodes: error.nodes,
      path: error.path,
      extensions: {
        code: UNAVAILABLE,
        retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS,
        ...(isProduction ? {} : { serviceName: subgraph }),
      },
    });
  return {
    onSubgraphExecute({ subgraphName }) {
      return ({ result, setResult }) => {
        if (!result || typeof result !== 'object' || Symbol.asyncIterator in result || !result.errors) return;
        const failed = result.errors.filter(
          (error) => error instanceof GraphQLError && subgraphFailureCode(error) === UNAVAILABLE,
        );
        if (failed.length === 0) return;
        log.warn({ subgraph: subgraphName, error: failed[0].message }, 'subgraph unavailable');
        setResult({
          ...result,
          errors: result.errors.map((error) => (failed.includes(error) ? unavailable(error, subgraphName) : error)),
        });
      };
    },
  };
}

function useErrorCodes(): GatewayPlugin {
  const normalizeResult = (result: unknown) => {
    if (!result || typeof result !== 'object') return;
    const errors = (result as { errors?: unknown[] }).errors;
    if (!Array.isArray(errors)) return;
    errors.forEach(normalizeError);
    // An error raised while executing (it has a path) leaves `data: null` (GraphQL spec, "Response");
    // the Rust query planner's executor leaves `data` out when the error reached the root.
    const executed = errors.some((error) => error instanceof GraphQLError && error.path !== undefined);
    if (executed && !('data' in result)) (result as { data?: unknown }).data = null;
  };
  return {
    // HTTP: every response body, including requests refused before execution (JWT, parsing).
    onResultProcess({ result }) {
      if (Array.isArray(result)) result.forEach(normalizeResult);
      else normalizeResult(result);
    },
    // WebSocket operations never reach onResultProcess; they are normalized here, and the
    // internal `http` extension (meaningless on a socket) is dropped.
    onExecutionResult({ result, context }) {
      if (!result || typeof result !== 'object' || Symbol.asyncIterator in result) return;
      normalizeResult(result);
      if ((context as Record<string, unknown> | undefined)?.socket) {
        for (const error of (result as { errors?: GraphQLError[] }).errors ?? []) {
          if (error instanceof GraphQLError) delete (error.extensions as Record<string, unknown>).http;
        }
      }
    },
  };
}

function limitError(message: string): GraphQLError {
  return new GraphQLError(message.replace(/^Syntax Error: /, ''), {
    extensions: { code: BAD_USER_INPUT },
  });
}

/** Depth and alias limits (graphql-armor rules) reporting BAD_USER_INPUT validation errors. */
function useOperationLimits(): GatewayPlugin {
  const report = (context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(error.message));
  const rules = [
    maxDepthRule({ n: settings.maxDepth, propagateOnRejection: false, onReject: [report] }),
    maxAliasesRule({ n: settings.maxAliases, propagateOnRejection: false, onReject: [report] }),
  ];
  return {
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}

/** Token limit (graphql-armor's counting parser) failing with BAD_USER_INPUT. */
function useTokenLimit(): GatewayPlugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => {
        let rejection: GraphQLError | undefined;
        const parser = new MaxTokensParserWLexer(source, {
          ...options,
          n: settings.maxTokens,
          propagateOnRejection: true,
          onReject: [(_: unknown, error: GraphQLError) => { rejection = error; }],
        } as never);
        try {
          return parser.parseDocument();
        } catch (error) {
          if (rejection && error === rejection) throw limitError(rejection.message);
          throw error;
        }
      });
    },
  };
}

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) is 10.0.0.1. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isTrustedProxy(address: string, hop: number): boolean {
  if (hop < settings.trustedProxyHops) return true;
  const family = isIP(address);
  return family !== 0 && trustedProxies.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: walking back from the connection through X-Forwarded-For, the first hop that
 * is not a trusted proxy (by address, or among the first COURSEGRAPH_ROUTER_TRUSTED_PROXY_HOPS). What
 * an untrusted client writes in the header is never believed: its own address comes first.
 */
function clientIp(serverContext: Record<string, any>, request: Request): string {
  const socketIp = plainAddress(serverContext?.req?.socket?.remoteAddress ?? 'unknown');
  const forwarded = (request.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((part) => plainAddress(part.trim()))
    .filter(Boolean);
  const hops = [socketIp, ...forwarded.reverse()];
  for (let hop = 0; hop < hops.length; hop += 1) {
    if (!isTrustedProxy(hops[hop], hop)) return hops[hop];
  }
  return hops[hops.length - 1]; // every hop trusted: the farthest one named
}

const redis = connectRedis(
  { url: settings.redisUrl, caFile: settings.redisCaFile, commandTimeoutMs: settings.redisTimeoutMs },
  log,
);
const requestBudget = new RequestBudget(settings.rateLimit, settings.rateLimitWindowSeconds, redis);
const subscriptionSlots = new SubscriptionSlots(settings.maxSubscriptions, settings.subscriptionLeaseSeconds * 1000, redis);
const responseCache = sharedResponseCache(
  redis,
  settings.responseCacheTtlSeconds,
  JSON.stringify(Object.entries(subgraphUrlOverrides).map(([name, { location }]) => [name, location]).sort()),
  log,
);

function rateLimitMessage(retryAfter: number): string {
  return `Rate limit of ${settings.rateLimit} requests per ${settings.rateLimitWindowSeconds}s exceeded; retry in ${retryAfter}s.`;
}

function rateLimitError(retryAfter: number): GraphQLError {
  return new GraphQLError(rateLimitMessage(retryAfter), {
    extensions: { code: RATE_LIMITED, retryAfter, http: { status: 429, headers: { 'Retry-After': String(retryAfter) } } },
  });
}

/** Who a request counts for: its verified subject (with RATE_LIMIT_BY=sub), else its client address. */
function rateLimitKey(context: Record<string, any>, request: Request, bySubject: boolean): string {
  const sub = context?.jwt?.payload?.sub;
  return bySubject && typeof sub === 'string' && sub ? `sub:${sub}` : `ip:${clientIp(context, request)}`;
}

/**
 * Per-client request rate limit, keyed by client address or, with COURSEGRAPH_ROUTER_RATE_LIMIT_BY=sub,
 * by the verified JWT subject (anonymous requests by address); refusals are HTTP 429 with RATE_LIMITED
 * and Retry-After. Operations on a WebSocket count against the same budget as HTTP requests (see
 * useWebSocketLimits). Hive Gateway's built-in `rateLimiting` option limits individual fields, not requests.
 */
function useRequestRateLimit(graphqlEndpoint: string): GatewayPlugin {
  async function refusal(key: string, fetchAPI: { Response: typeof Response }): Promise<Response | undefined> {
    const retryAfter = await requestBudget.take(key);
    if (retryAfter === undefined) return undefined;
    const body = { errors: [{ message: rateLimitMessage(retryAfter), extensions: { code: RATE_LIMITED, retryAfter } }] };
    return new fetchAPI.Response(JSON.stringify(body), {
      status: 429,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Retry-After': String(retryAfter),
        'RateLimit-Limit': String(settings.rateLimit),
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': String(retryAfter),
      },
    });
  }

  const isGraphQLRequest = (request: Request) =>
    request.method !== 'OPTIONS' && new URL(request.url, 'http://router').pathname === graphqlEndpoint;

  if (settings.rateLimitBy === 'ip') {
    return {
      async onRequest({ request, serverContext, fetchAPI, endResponse }) {
        if (!isGraphQLRequest(request)) return;
        const response = await refusal(rateLimitKey(serverContext as Record<string, any>, request, false), fetchAPI);
        if (response) endResponse(response);
      },
    };
  }
  return {
    // Runs after the JWT plugin's onRequestParse, so `jwt` holds a verified payload.
    async onRequestParse({ request, serverContext, fetchAPI, endResponse }) {
      const response = await refusal(rateLimitKey(serverContext as Record<string, any>, request, true), fetchAPI);
      if (response) endResponse(response);
    },
  };
}

/**
 * What an HTTP request's limits do for a WebSocket, whose operations never pass through them:
 * - each operation on a socket counts against its client's rate-limit budget (the same as HTTP's);
 * - a socket's messages are capped at COURSEGRAPH_ROUTER_MAX_BODY_BYTES (see capWebSocketMessages).
 * And for subscriptions over either transport (SSE is HTTP, but stays open): at most
 * COURSEGRAPH_ROUTER_MAX_SUBSCRIPTIONS open at once per user (verified subject, else client address).
 */
function useWebSocketLimits(): GatewayPlugin {
  const refused = (error: GraphQLError) => ({ errors: [error] });

  async function overBudget(context: Record<string, any>): Promise<GraphQLError | undefined> {
    if (!context?.socket || settings.rateLimit === 0) return undefined; // HTTP was counted on arrival
    const retryAfter = await requestBudget.take(rateLimitKey(context, context.request, settings.rateLimitBy === 'sub'));
    return retryAfter === undefined ? undefined : rateLimitError(retryAfter);
  }

  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const error = await overBudget(args.contextValue as Record<string, any>);
      if (error) setResultAndStopExecution(refused(error));
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as Record<string, any>;
      const error = await overBudget(context);
      if (error) return setResultAndStopExecution(refused(error));
      if (settings.maxSubscriptions === 0) return undefined;
      const slot = await subscriptionSlots.admit(rateLimitKey(context, context.request, true));
      if (!slot) {
        return setResultAndStopExecution(
          refused(
            new GraphQLError(`At most ${settings.maxSubscriptions} subscriptions may be open at once.`, {
              extensions: { code: RATE_LIMITED, http: { status: 429 } },
            }),
          ),
        );
      }
      const release = () => slot.release();
      return {
        // A subscription refused by its resolver answers one result, not a stream: nothing stays open.
        onSubscribeResult({ result }) {
          if (!result || typeof result !== 'object' || !(Symbol.asyncIterator in result)) {
            release();
            return undefined;
          }
          return { onEnd: release };
        },
        onSubscribeError: release,
      };
    },
  };
}

/**
 * Request body cap: a body over COURSEGRAPH_ROUTER_MAX_BODY_BYTES is refused with 413 before it is read
 * (Content-Length), and a body of unknown length (chunked) with 411, since only a declared length can be
 * checked before buffering. Browsers and HTTP clients declare it for every GraphQL POST.
 */
function useRequestBodyLimit(): GatewayPlugin {
  function refusal(status: number, message: string, fetchAPI: { Response: typeof Response }): Response {
    const body = { errors: [{ message, extensions: { code: BAD_USER_INPUT } }] };
    return new fetchAPI.Response(JSON.stringify(body), {
      status,
      // Not `Connection: close`: a client still sending would see a reset instead of this answer. Node
      // reads and discards the rest of an unread body, without buffering it.
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
  }
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      if (request.method !== 'POST') return;
      const declared = request.headers.get('content-length');
      if (declared === null) {
        endResponse(refusal(411, 'A request body needs a Content-Length header.', fetchAPI));
      } else if (!/^\d+$/.test(declared) || Number(declared) > settings.maxBodyBytes) {
        endResponse(refusal(413, `The request body exceeds ${settings.maxBodyBytes} bytes.`, fetchAPI));
      }
    },
  };
}

/**
 * Only user access tokens reach the subgraphs: a token without `exp` (never expires) or of a service
 * (role "service": services call subgraphs directly, never through the router) is refused with 401,
 * though its signature, issuer and audience check out. The subgraphs refuse both too; this is the edge.
 */
function useUserTokensOnly(): GatewayPlugin {
  function refusal(context: Record<string, any>) {
    const payload = context?.jwt?.payload;
    if (!payload || (typeof payload.exp === 'number' && payload.role !== 'service')) return undefined;
    const error = new GraphQLError('Invalid authentication token provided', {
      extensions: {
        code: UNAUTHENTICATED,
        http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } },
      },
    });
    return { errors: [error] };
  }
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = refusal(args.contextValue as Record<string, any>);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = refusal(args.contextValue as Record<string, any>);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

/**
 * Caps every WebSocket message at COURSEGRAPH_ROUTER_MAX_BODY_BYTES, as HTTP bodies are: a bigger one
 * closes the socket (1009) as its frame header arrives, before it is buffered. Hive Gateway creates its
 * `ws` server with the library's 100 MiB default and no option to change it, so the server class it
 * loads (the same module, resolved from the gateway's package) takes the cap at each upgrade.
 */
function capWebSocketMessages(maxBytes: number): void {
  const gatewayRequire = createRequire(createRequire(import.meta.url).resolve('@graphql-hive/gateway'));
  const { WebSocketServer } = gatewayRequire('ws') as {
    WebSocketServer: { prototype: { handleUpgrade: (...args: unknown[]) => unknown } };
  };
  const handleUpgrade = WebSocketServer.prototype.handleUpgrade;
  WebSocketServer.prototype.handleUpgrade = function (this: { options: { maxPayload: number } }, ...args) {
    this.options.maxPayload = Math.min(this.options.maxPayload, maxBytes);
    return handleUpgrade.apply(this, args);
  };
}
capWebSocketMessages(settings.maxBodyBytes);

/**
 * WebSocket clients send Authorization in connectionParams; expose it as the `authorization`
 * header of the context so that header propagation and the subgraph WebSocket connectionParams
 * forward it like an HTTP client's header.
 */
function useWebSocketAuthorization(): GatewayPlugin {
  return {
    onContextBuilding({ context, extendContext }) {
      const authorization = authorizationFromConnectionParams(context.connectionParams);
      if (authorization && !context.headers?.authorization) {
        extendContext({ headers: { ...context.headers, authorization } } as never);
      }
    },
  };
}

/** Responses differ by Origin (CORS allow-list): tell caches so. */
function useVaryOrigin(): GatewayPlugin {
  return {
    onResponse({ response }) {
      const vary = response.headers.get('vary');
      if (!vary) response.headers.set('vary', 'Origin');
      else if (!/(^|,)\s*origin\s*(,|$)/i.test(vary)) response.headers.set('vary', `${vary}, Origin`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------------------------

const GRAPHQL_ENDPOINT = '/graphql';
const READINESS_ENDPOINT = '/readiness';

log.info(
  {
    profile,
    host: settings.host,
    port: settings.port,
    supergraph: settings.supergraphPath, // unless a path is given on the command line
    subgraphUrlOverrides: Object.fromEntries(Object.entries(subgraphUrlOverrides).map(([k, v]) => [k, v.location])),
    jwksUrl: settings.jwksUrl,
    limits: {
      maxBodyBytes: settings.maxBodyBytes,
      maxDepth: settings.maxDepth,
      maxTokens: settings.maxTokens,
      maxAliases: settings.maxAliases,
      maxCost: settings.maxCost,
      maxSubscriptions: settings.maxSubscriptions,
      rateLimit: settings.rateLimit,
      rateLimitWindowSeconds: settings.rateLimitWindowSeconds,
      rateLimitBy: settings.rateLimitBy,
      sharedIn: redis ? 'redis' : 'this process',
      trustedProxies: settings.trustedProxies,
      trustedProxyHops: settings.trustedProxyHops,
    },
    responseCache: responseCache ? { ttlSeconds: settings.responseCacheTtlSeconds } : false,
    corsOrigins: settings.corsOrigins,
    tracing,
  },
  'CourseGraph router configuration',
);

export const gatewayConfig = defineConfig({
  supergraph: settings.supergraphPath,
  host: settings.host,
  port: settings.port,
  graphqlEndpoint: GRAPHQL_ENDPOINT,
  healthCheckEndpoint: '/healthcheck',
  readinessCheckEndpoint: READINESS_ENDPOINT,
  logging: log,
  // The Rust query planner (ADR 0026): plans and executes each operation at about half the CPU.
  unifiedGraphHandler,

  transportEntries: {
    ...subgraphUrlOverrides,
    // Subscriptions: gateway -> subgraph over graphql-transport-ws (Strawberry's SSE framing is
    // not read by the gateway). The client's Authorization travels in connectionParams, the only
    // place a subgraph's WebSocket can read credentials from.
    '*.http': {
      options: {
        subscriptions: {
          kind: 'ws',
          options: {
            connectionParams: {
              Authorization: '{context.headers.authorization}',
            },
          },
        },
      },
    },
  },

  jwt: {
    signingKeyProviders: [signingKeyFor],
    tokenLookupLocations: [
      extractFromHeader({ name: 'authorization', prefix: 'Bearer' }),
      extractFromWebSocketConnectionParams as never,
    ],
    tokenVerification: {
      issuer: settings.jwtIssuer,
      audience: settings.jwtAudience,
      algorithms: settings.jwtAlgorithms as never,
    },
    // Anonymous requests pass through (subgraphs decide what they may see); bad tokens get 401.
    reject: { missingToken: false, invalidToken: true },
    // Subgraphs verify the forwarded Authorization header themselves; no claims in extensions.
    forward: { payload: false, token: false },
  },

  propagateHeaders: {
    fromClientToSubgraphs({ request, context }) {
      const headers = (context?.headers ?? {}) as Record<string, string | undefined>;
      return {
        authorization: headers.authorization ?? request.headers.get('authorization'),
        // Traced, the router sends its own span's context; untraced, it passes the caller's through.
        ...(tracing
          ? {}
          : { traceparent: request.headers.get('traceparent'), tracestate: request.headers.get('tracestate') }),
      };
    },
  },
  ...(tracing
    ? {
        openTelemetry: {
          traces: {
            spans: {
              http: ({ request }: { request: Request }) =>
                !UNTRACED_PATHS.has(new URL(request.url, 'http://router').pathname),
            },
          },
        },
      }
    : {}),
  // x-request-id: taken from the client or generated, logged with every line of the request,
  // sent to every subgraph and returned in the response.
  requestId: {
    headerName: 'x-request-id',
    generateRequestId: () => randomUUID(),
  },

  cors: (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin || !settings.corsOrigins.includes(origin)) return false;
    return {
      origin: [origin],
      credentials: true,
      methods: ['GET', 'POST', 'OPTIONS'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
    };
  },

  // Introspection and the explorer: dev and test only.
  graphiql: !isProduction,
  landingPage: !isProduction,
  ...(isProduction ? { disableIntrospection: { disableIf: () => true } } : {}),
  blockFieldSuggestions: isProduction,
  maskedErrors: isProduction ? { isDev: false, maskError } : { maskError },
  subgraphErrors: { errorCode: INTERNAL, subgraphNameProp: isProduction ? false : 'serviceName' },

  ...(settings.maxCost > 0
    ? { demandControl: { maxCost: settings.maxCost, listSize: settings.costListSize, includeExtensionMetadata: false } }
    : {}),

  plugins: () => [
    useStatusEndpoints({
      readinessPath: READINESS_ENDPOINT,
      metricsPath: '/metrics',
      details: () => ({
        redis: redis?.describe() ?? { configured: false },
        limits: redis?.healthy ? 'shared (redis)' : 'this router only (local counters)',
        responseCache: responseCache?.describe() ?? { enabled: false },
      }),
    }),
    useRequestBodyLimit(),
    useTokenLimit(),
    useOperationLimits(),
    ...(settings.rateLimit > 0 ? [useRequestRateLimit(GRAPHQL_ENDPOINT)] : []),
    useUserTokensOnly(),
    useWebSocketLimits(),
    useWebSocketAuthorization(),
    ...(responseCache?.plugins ?? []),
    useVaryOrigin(),
    useUnavailableSubgraphs(),
    useErrorCodes(),
    {
      async onDispose() {
        responseCache?.close();
        await subscriptionSlots.close();
        await redis?.close();
      },
    },
  ],
});

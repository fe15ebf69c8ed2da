// CourseGraph router: GraphQL Hive Gateway configuration.
//
// Start (see router/README.md):
//   router/node_modules/.bin/hive-gateway supergraph -c router/gateway.config.ts
//
// Every setting comes from the environment, with the dev defaults of DESIGN.md §6a. Hive Gateway
// loads this TypeScript file itself (its bundled @graphql-hive/importer transpiles it); no build.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { AlwaysOnSampler, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { GraphQLError, type ValidationContext } from 'graphql';

const ROUTER_DIR = dirname(fileURLToPath(import.meta.url));
const env = process.env;

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
  rateLimit: int('COURSEGRAPH_ROUTER_RATE_LIMIT', 600, 0), // requests per window; 0 disables
  rateLimitWindowSeconds: int('COURSEGRAPH_ROUTER_RATE_LIMIT_WINDOW_SECONDS', 60, 1),
  rateLimitBy: str('COURSEGRAPH_ROUTER_RATE_LIMIT_BY', 'ip'),
  trustedProxyHops: int('COURSEGRAPH_ROUTER_TRUSTED_PROXY_HOPS', 0, 0),
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
const UNTRACED_PATHS = new Set(['/healthcheck', '/readiness']);

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
// kid gets a key that verifies nothing instead. Other provider errors (JWKS unreachable) stay 500.
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
    throw error;
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

const CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'RATE_LIMITED', 'INTERNAL']);
const GATEWAY_CODES: Record<string, string> = {
  GRAPHQL_PARSE_FAILED: 'BAD_USER_INPUT',
  GRAPHQL_VALIDATION_FAILED: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_USER_INPUT',
  COST_ESTIMATED_TOO_EXPENSIVE: 'BAD_USER_INPUT',
  PERSISTED_QUERY_NOT_FOUND: 'BAD_USER_INPUT',
  INTERNAL_SERVER_ERROR: 'INTERNAL',
  DOWNSTREAM_SERVICE_ERROR: 'INTERNAL',
  SCHEMA_RELOAD: 'INTERNAL',
};
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
 * (DESIGN.md §8). Rejected credentials become 401 UNAUTHENTICATED with a WWW-Authenticate header.
 * Codes already in the set (from subgraphs or our limit rules) are kept.
 */
function normalizeError(error: unknown): void {
  if (!(error instanceof GraphQLError)) return;
  const extensions = error.extensions as Record<string, unknown>;
  const code = typeof extensions.code === 'string' ? extensions.code : undefined;
  const http = (extensions.http ?? undefined) as HttpExtension | undefined;
  if (code && CODES.has(code)) return;
  if (!code && (http?.status === 401 || (http?.status === 400 && JWT_REJECTIONS.has(error.message)))) {
    extensions.code = 'UNAUTHENTICATED';
    extensions.http = {
      ...http,
      spec: false,
      status: 401,
      headers: { ...http?.headers, 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    };
    return;
  }
  if (code && GATEWAY_CODES[code]) {
    extensions.code = GATEWAY_CODES[code];
    return;
  }
  if (http?.status === 403) extensions.code = 'FORBIDDEN';
  else if (http?.status === 429) extensions.code = 'RATE_LIMITED';
  else if (http?.status && http.status >= 400 && http.status < 500) extensions.code = 'BAD_USER_INPUT';
  else if (!code) extensions.code = 'INTERNAL';
}

function useErrorCodes(): GatewayPlugin {
  const normalizeResult = (result: unknown) => {
    if (!result || typeof result !== 'object') return;
    const errors = (result as { errors?: unknown[] }).errors;
    if (Array.isArray(errors)) errors.forEach(normalizeError);
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
    extensions: { code: 'BAD_USER_INPUT' },
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

function clientIp(serverContext: Record<string, any>, request: Request): string {
  const socketIp: string = serverContext?.req?.socket?.remoteAddress ?? 'unknown';
  if (settings.trustedProxyHops === 0) return socketIp;
  // X-Forwarded-For: client, proxy1, proxy2 — trust only the hops we run ourselves.
  const forwarded = (request.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  return forwarded[forwarded.length - settings.trustedProxyHops] ?? socketIp;
}

/**
 * Per-client request rate limit (fixed window, in process memory; each router replica counts on
 * its own). Keyed by client IP, or with COURSEGRAPH_ROUTER_RATE_LIMIT_BY=sub by the verified JWT
 * subject (anonymous requests by IP); refusals are HTTP 429 with RATE_LIMITED and Retry-After.
 * Hive Gateway's built-in `rateLimiting` option limits individual fields, not requests.
 */
function useRequestRateLimit(graphqlEndpoint: string): GatewayPlugin {
  const windowMs = settings.rateLimitWindowSeconds * 1000;
  let windowStart = Date.now();
  let counts = new Map<string, number>();

  function refusal(key: string, fetchAPI: { Response: typeof Response }): Response | undefined {
    const now = Date.now();
    if (now - windowStart >= windowMs) {
      windowStart = now - ((now - windowStart) % windowMs);
      counts = new Map();
    }
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    if (count <= settings.rateLimit) return undefined;
    const retryAfter = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000));
    const body = {
      errors: [
        {
          message: `Rate limit of ${settings.rateLimit} requests per ${settings.rateLimitWindowSeconds}s exceeded; retry in ${retryAfter}s.`,
          extensions: { code: 'RATE_LIMITED', retryAfter },
        },
      ],
    };
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
      onRequest({ request, serverContext, fetchAPI, endResponse }) {
        if (!isGraphQLRequest(request)) return;
        const response = refusal(`ip:${clientIp(serverContext as Record<string, any>, request)}`, fetchAPI);
        if (response) endResponse(response);
      },
    };
  }
  return {
    // Runs after the JWT plugin's onRequestParse, so `jwt` holds a verified payload.
    onRequestParse({ request, serverContext, fetchAPI, endResponse }) {
      const context = serverContext as Record<string, any>;
      const sub = context?.jwt?.payload?.sub;
      const key = typeof sub === 'string' && sub ? `sub:${sub}` : `ip:${clientIp(context, request)}`;
      const response = refusal(key, fetchAPI);
      if (response) endResponse(response);
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
    const body = { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] };
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
      rateLimit: settings.rateLimit,
      rateLimitWindowSeconds: settings.rateLimitWindowSeconds,
      rateLimitBy: settings.rateLimitBy,
    },
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
  readinessCheckEndpoint: '/readiness',
  logging: log,

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
  maskedErrors: isProduction ? { isDev: false } : true,
  subgraphErrors: { errorCode: 'INTERNAL', subgraphNameProp: isProduction ? false : 'serviceName' },

  ...(settings.maxCost > 0
    ? { demandControl: { maxCost: settings.maxCost, listSize: settings.costListSize, includeExtensionMetadata: false } }
    : {}),

  plugins: () => [
    useRequestBodyLimit(),
    useTokenLimit(),
    useOperationLimits(),
    ...(settings.rateLimit > 0 ? [useRequestRateLimit(GRAPHQL_ENDPOINT)] : []),
    useWebSocketAuthorization(),
    useVaryOrigin(),
    useErrorCodes(),
  ],
});

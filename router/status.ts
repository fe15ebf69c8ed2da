// CourseGraph router: what operators and probes read besides GraphQL.
// - GET /metrics: Prometheus text (prom-client's default registry: the router's own metrics, such as
//   coursegraph_router_redis_up and coursegraph_router_limit_decisions_total).
// - GET /readiness keeps Hive Gateway's status (200 once the supergraph is loaded, else 503) and gets a
//   JSON body that says how the router is serving: whether Redis answers and so where limits are
//   counted. Redis down does not make the router unready: it serves on local counters (ADR 0023).

import type { GatewayPlugin } from '@graphql-hive/gateway';
import { register } from 'prom-client';

export function useStatusEndpoints(options: {
  readinessPath: string;
  metricsPath: string;
  details: () => Record<string, unknown>;
}): GatewayPlugin {
  const pathOf = (request: Request) => new URL(request.url, 'http://router').pathname;
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      if (request.method !== 'GET' || pathOf(request) !== options.metricsPath) return undefined;
      return register.metrics().then((text) =>
        endResponse(new fetchAPI.Response(text, { status: 200, headers: { 'Content-Type': register.contentType } })),
      );
    },
    onResponse({ request, response, setResponse, fetchAPI }) {
      if (pathOf(request) !== options.readinessPath) return;
      const body = { status: response.ok ? 'ready' : 'unavailable', ...options.details() };
      setResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : JSON.stringify(body), {
          status: response.status,
          headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
        }),
      );
    },
  } as GatewayPlugin;
}

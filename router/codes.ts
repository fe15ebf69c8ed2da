// CourseGraph router: the error codes clients see, read from codes.json, which `make schemas` generates
// from coursegraph/codes.py (ADR 0028). The router spells no code of its own: a code is added, or its
// status changed, in Python only, and `make check-generated` fails until this file's table follows.

import { readFileSync } from 'node:fs';

interface CodeTable {
  codes: Record<string, { status: number; retryable: boolean }>;
  byStatus: Record<string, string>;
  clientError: string;
  serverError: string;
  gatewayCodes: Record<string, string>;
  unavailableRetryAfterSeconds: number;
}

const table = JSON.parse(readFileSync(new URL('./codes.json', import.meta.url), 'utf8')) as CodeTable;

/** Every code of the fixed set. */
export const CODES: ReadonlySet<string> = new Set(Object.keys(table.codes));

/**
 * The codes by name (`Code.RATE_LIMITED`). Naming a code the table does not declare throws: read at
 * start-up, a stale codes.json stops the router instead of answering a code Python does not know.
 */
export const Code: Readonly<Record<string, string>> = new Proxy(
  Object.fromEntries([...CODES].map((code) => [code, code])),
  {
    get(codes, name) {
      if (typeof name === 'string' && Object.hasOwn(codes, name)) return codes[name];
      throw new Error(`router/codes.json declares no code ${String(name)}: run \`make schemas\``);
    },
  },
);

/** Hive Gateway's own error codes, in the fixed set. */
export const GATEWAY_CODES: Readonly<Record<string, string>> = table.gatewayCodes;

/** How long to wait before retrying while a service cannot be reached or is starting. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = table.unavailableRetryAfterSeconds;

/** The code of an answer that has only an HTTP status (coursegraph.codes.code_for_status). */
export function codeForStatus(status: number): string {
  return table.byStatus[String(status)] ?? (status >= 400 && status < 500 ? table.clientError : table.serverError);
}

#!/usr/bin/env node
// The GraphQL-over-HTTP audit (`graphql-http`'s `serverAudits`) against a running GraphQL endpoint.
//
//   node router/audit.mjs http://127.0.0.1:4000/graphql
//
// Runs every server audit one after the other, prints one line per audit (`ok`, `notice`, `warn` or
// `error`, its id and name, and the reason of a failure) and a closing summary line
// `audit: N of M ok, E errors, W warnings, K notices`. Exits 1 on any error or warning (a notice is
// printed and does not fail), 2 on bad usage or when the audit itself cannot run.

import { parseArgs } from 'node:util';

import { serverAudits } from 'graphql-http';

function usage() {
  return 'usage: node router/audit.mjs <url of a GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql>';
}

async function main() {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} });
  if (positionals.length !== 1 || !/^https?:\/\//.test(positionals[0])) {
    console.error(usage());
    return 2;
  }
  const url = positionals[0];
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  const audits = serverAudits({ url });
  for (const { fn } of audits) {
    // One at a time: the audit is a conformance check, not a load test.
    const result = await fn();
    counts[result.status] += 1;
    const line = `${result.status.padEnd(6)} ${result.id} ${result.name}`;
    if (result.status === 'ok') {
      console.log(line);
    } else {
      let body = '';
      try {
        body = (await result.response.text()).slice(0, 500);
      } catch {
        body = '(body already read)';
      }
      console.log(`${line}\n       reason: ${result.reason}\n       response ${result.response.status}: ${body}`);
    }
  }
  console.log(
    `audit: ${counts.ok} of ${audits.length} ok, ${counts.error} errors, ${counts.warn} warnings, ` +
      `${counts.notice} notices (${url})`,
  );
  return counts.error > 0 || counts.warn > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`audit could not run: ${error?.stack ?? error}`);
    process.exitCode = 2;
  },
);

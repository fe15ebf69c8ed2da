#!/usr/bin/env node
// Breaking-change check of the public GraphQL API: the composed supergraph of the working tree against
// the one committed at a base revision, compared with GraphQL Inspector (`@graphql-inspector/core`).
//
//   node router/schema-check.mjs                      router/supergraph.graphql against the default base
//   node router/schema-check.mjs --base REF           against REF (or COURSEGRAPH_SCHEMA_BASE=REF)
//   node router/schema-check.mjs --schema PATH        judge another supergraph file (tests)
//   node router/schema-check.mjs --allow PATH         another allow-list (tests)
//
// Both sides are reduced to the API clients see (`transformSupergraphToPublicSchema`: no federation
// machinery, no @inaccessible internal operations) before they are compared. Every change is printed
// with its level; the check fails (exit 1) on a BREAKING change unless the allow-list
// (router/schema-breaking-changes.yaml) acknowledges it by type and path with a reason. Exit 2: bad
// usage, an unreadable allow-list, or a base git cannot resolve.
//
// Default base (docs/adr/0017-breaking-change-check-base.md): on a branch ahead of `origin/main` (or
// `main`), the merge-base with it, so the whole branch is judged; on main itself, `HEAD~1`, the last
// commit (what CI sees in its fresh clone of main).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { transformSupergraphToPublicSchema } from '@theguild/federation-composition';
import { buildASTSchema, parse } from 'graphql';
import YAML from 'yaml';

const ROUTER_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(ROUTER_DIR, '..');
const SUPERGRAPH = 'router/supergraph.graphql'; // as git names it at the base
const DEFAULT_ALLOW = resolve(ROUTER_DIR, 'schema-breaking-changes.yaml');
const UPSTREAMS = ['origin/main', 'main'];

class UsageError extends Error {}

function git(...args) {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function tryGit(...args) {
  try {
    return git(...args);
  } catch {
    return null;
  }
}

/** The revision to compare with, and why it was chosen. `null` when there is nothing before HEAD. */
function chooseBase(requested) {
  if (requested) {
    const sha = tryGit('rev-parse', '--verify', '--quiet', `${requested}^{commit}`);
    if (!sha) throw new UsageError(`base "${requested}" is not a commit git knows here`);
    return { ref: requested, sha, why: 'asked for' };
  }
  const head = git('rev-parse', 'HEAD');
  for (const upstream of UPSTREAMS) {
    if (!tryGit('rev-parse', '--verify', '--quiet', `${upstream}^{commit}`)) continue;
    const mergeBase = tryGit('merge-base', 'HEAD', upstream);
    if (mergeBase && mergeBase !== head) {
      return { ref: `merge-base(HEAD, ${upstream})`, sha: mergeBase, why: `this branch is ahead of ${upstream}` };
    }
    break; // HEAD is on (or behind) the upstream: judge the last commit
  }
  const parent = tryGit('rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}');
  if (!parent) {
    if (git('rev-parse', '--is-shallow-repository') === 'true') {
      throw new UsageError('HEAD~1 is missing from this shallow clone: fetch more history or give --base');
    }
    return null; // the first commit: no earlier API to break
  }
  return { ref: 'HEAD~1', sha: parent, why: 'the last commit' };
}

function publicSchema(sdl, source) {
  try {
    return buildASTSchema(transformSupergraphToPublicSchema(parse(sdl)), { assumeValidSDL: true });
  } catch (error) {
    throw new UsageError(`${source} is not a readable supergraph: ${error.message}`);
  }
}

/** The acknowledged breaking changes: [{type, path, reason}], each with a reason. */
function readAllowList(path) {
  if (!existsSync(path)) throw new UsageError(`allow-list ${path} does not exist`);
  let document;
  try {
    document = YAML.parse(readFileSync(path, 'utf8')) ?? {};
  } catch (error) {
    throw new UsageError(`allow-list ${path} is not YAML: ${error.message}`);
  }
  const entries = document.allowed ?? [];
  if (!Array.isArray(entries)) throw new UsageError(`allow-list ${path}: "allowed" must be a list`);
  return entries.map((entry, index) => {
    const where = `allow-list ${path}, entry ${index + 1}`;
    for (const key of ['type', 'path', 'reason']) {
      if (typeof entry?.[key] !== 'string' || entry[key].trim() === '') {
        throw new UsageError(`${where}: "${key}" is required (a non-empty string)`);
      }
    }
    return { type: entry.type.trim(), path: entry.path.trim(), reason: entry.reason.trim() };
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      schema: { type: 'string' },
      allow: { type: 'string' },
    },
  });
  const schemaPath = resolve(values.schema ?? resolve(REPO_ROOT, SUPERGRAPH));
  const allowPath = resolve(values.allow ?? DEFAULT_ALLOW);
  const allowed = readAllowList(allowPath);
  const base = chooseBase(values.base ?? process.env.COURSEGRAPH_SCHEMA_BASE);
  const shown = relative(process.cwd(), schemaPath) || schemaPath;
  if (base === null) {
    console.log(`schema-check: ${shown}: no commit before HEAD, nothing to compare with`);
    return 0;
  }
  const label = `${base.ref} (${base.sha.slice(0, 12)}, ${base.why})`;
  const oldSdl = tryGit('show', `${base.sha}:${SUPERGRAPH}`);
  if (oldSdl === null) {
    console.log(`schema-check: ${shown}: no ${SUPERGRAPH} at ${label}, nothing to compare with`);
    return 0;
  }
  const oldSchema = publicSchema(oldSdl, `${SUPERGRAPH} at ${label}`);
  const newSchema = publicSchema(readFileSync(schemaPath, 'utf8'), shown);

  const changes = await diff(oldSchema, newSchema);
  const counts = { breaking: 0, acknowledged: 0, dangerous: 0, safe: 0 };
  console.log(`schema-check: the public API of ${shown} against ${label}`);
  for (const change of changes) {
    const level = change.criticality.level;
    let verdict;
    if (level === CriticalityLevel.Breaking) {
      const acknowledgement = allowed.find((entry) => entry.type === change.type && entry.path === change.path);
      if (acknowledgement) {
        counts.acknowledged += 1;
        verdict = `BREAKING, acknowledged: ${acknowledgement.reason}`;
      } else {
        counts.breaking += 1;
        verdict = 'BREAKING';
      }
    } else if (level === CriticalityLevel.Dangerous) {
      counts.dangerous += 1;
      verdict = 'dangerous';
    } else {
      counts.safe += 1;
      verdict = 'safe';
    }
    console.log(`  ${verdict.padEnd(9)} ${change.type} ${change.path ?? '-'}: ${change.message}`);
  }
  console.log(
    `schema-check: ${counts.breaking} breaking, ${counts.acknowledged} acknowledged, ` +
      `${counts.dangerous} dangerous, ${counts.safe} safe`,
  );
  if (counts.breaking > 0) {
    console.log(
      `schema-check: FAILED. Keep the old fields (deprecate them), or acknowledge each intentional change in ` +
        `${relative(process.cwd(), allowPath) || allowPath} with its type, path and reason.`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`schema-check: ${error instanceof UsageError ? error.message : error?.stack ?? error}`);
    process.exitCode = 2;
  },
);

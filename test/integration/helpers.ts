// Shared helpers for integration tests: bring services up through infra/up when they are not
// running, and give every test its own topic/group names so tests never interfere.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const started = new Set<string>();

/** Ensures the named infra services are running (idempotent: infra/up skips running ones). */
export function ensureServices(...services: string[]): void {
  const missing = services.filter((s) => !started.has(s));
  if (missing.length === 0) return;
  try {
    execFileSync('bash', ['infra/status', ...missing], { cwd: REPO, stdio: 'ignore' });
  } catch {
    execFileSync('bash', ['infra/up', ...missing], {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  for (const s of missing) started.add(s);
}

/** A name unique to this test run, e.g. `txn-test-3f9a1c`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export { REPO };

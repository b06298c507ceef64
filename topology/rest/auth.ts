/**
 * Who may do what, and how often. Bearer tokens are verified against the hashed tokens in the
 * control topic (ControlStore.verifyToken); roles are ordered viewer < operator < admin:
 * viewers read, operators also pause/resume/restart, admins also create, change and delete.
 */
import type { Role } from '../control/index.ts';

export const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function allows(role: Role, needed: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * A token bucket per client address: `perSecond` requests per second on average, bursts up to
 * `burst`. take() returns 0 when the request may proceed, else the seconds to wait (Retry-After).
 * The table is bounded: the least recently seen clients are forgotten first.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst = Math.max(1, perSecond * 2),
    private readonly maxClients = 10_000,
  ) {}

  take(client: string, now = Date.now()): number {
    if (this.perSecond <= 0) return 0;
    let b = this.buckets.get(client);
    if (b) this.buckets.delete(client);
    else b = { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    this.buckets.set(client, b); // re-inserted: Map order = least recently seen first
    if (this.buckets.size > this.maxClients)
      this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }
}

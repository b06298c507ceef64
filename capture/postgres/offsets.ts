/**
 * What a PostgreSQL source stores with its offsets and checks on resume. The stored `ack` is
 * the last flush LSN Tributary confirmed (always written to Kafka before it is confirmed), so a
 * healthy slot's confirmed_flush_lsn can never be ahead of it. A slot that is missing, lost, or
 * ahead of the stored position means changes may have been recycled unseen.
 */
import type pg from 'pg';
import type { ResumeCheck } from '../engine/engine.ts';
import type { StoredOffset } from '../engine/types.ts';
import { formatLsn, parseLsn } from './connection/pgoutput.ts';

export interface PgFacts {
  slot: string;
  systemId: string;
  database: string;
  [k: string]: unknown;
}

export interface SlotState {
  exists: boolean;
  plugin?: string;
  database?: string;
  active?: boolean;
  activePid?: number | null;
  walStatus?: string | null;
  confirmedFlush?: number | null;
  lagBytes?: number | null;
}

export async function readSlot(client: pg.ClientBase | pg.Pool, slot: string): Promise<SlotState> {
  const res = await client.query<{
    plugin: string;
    database: string;
    active: boolean;
    active_pid: number | null;
    wal_status: string | null;
    confirmed_flush_lsn: string | null;
    lag: string | null;
  }>(
    `SELECT plugin, database, active, active_pid, wal_status, confirmed_flush_lsn::text,
            (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const r = res.rows[0];
  if (!r) return { exists: false };
  return {
    exists: true,
    plugin: r.plugin,
    database: r.database,
    active: r.active,
    activePid: r.active_pid,
    walStatus: r.wal_status,
    confirmedFlush: r.confirmed_flush_lsn ? parseLsn(r.confirmed_flush_lsn) : null,
    lagBytes: r.lag === null ? null : Number(r.lag),
  };
}

/** Decides whether streaming can resume from `stored` without a gap. */
export function checkResume(
  stored: StoredOffset | null,
  slot: SlotState,
  facts: PgFacts,
): ResumeCheck {
  if (!stored || stored.ack === 0) return { ok: true }; // nothing confirmed yet: the slot cannot be ahead
  const prev = stored.connector as Partial<PgFacts>;
  if (prev.systemId && prev.systemId !== facts.systemId) {
    return {
      ok: false,
      reason: `the database cluster changed (system id ${prev.systemId} → ${facts.systemId}) since the offsets were stored`,
    };
  }
  if (prev.slot && prev.slot !== facts.slot) {
    return {
      ok: false,
      reason: `the configured slot changed ("${prev.slot}" → "${facts.slot}") since the offsets were stored`,
    };
  }
  if (!slot.exists) {
    return {
      ok: false,
      reason: `replication slot "${facts.slot}" no longer exists (it was dropped while the capture was stopped)`,
    };
  }
  if (slot.walStatus === 'lost') {
    return {
      ok: false,
      reason: `replication slot "${facts.slot}" has wal_status "lost": PostgreSQL removed WAL the capture had not read`,
    };
  }
  if (
    slot.confirmedFlush !== null &&
    slot.confirmedFlush !== undefined &&
    slot.confirmedFlush > stored.ack
  ) {
    return {
      ok: false,
      reason:
        `replication slot "${facts.slot}" starts at ${formatLsn(slot.confirmedFlush)}, after the stored position ${formatLsn(stored.ack)}: ` +
        'it was recreated or advanced by someone else while the capture was stopped',
    };
  }
  return { ok: true };
}

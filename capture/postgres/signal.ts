/**
 * Sends a signal to a PostgreSQL source's capture through the source database itself: a
 * transactional logical decoding message with prefix `tributary.signal`, which the capture's
 * slot delivers in WAL order with the changes (see capture/engine/signal.ts). A capture that is
 * stopped reads it when it starts again, as long as its slot exists.
 */
import pg from 'pg';
import { formatSignal } from '../engine/signal.ts';
import type { SnapshotSignal } from '../engine/signal.ts';
import type { PostgresSourceConfig } from './config.ts';
import { derivedNames } from './config.ts';
import * as errors from './errors.ts';
import { readSlot } from './offsets.ts';
import { SIGNAL_PREFIX } from './stream.ts';

export interface SignalResult {
  signal: SnapshotSignal;
  /** LSN of the message (text form, e.g. 0/1A2B3C4); null when not written (no slot). */
  lsn: string | null;
  slot: string;
  slotExists: boolean;
  slotActive: boolean;
}

/**
 * Emits an execute-snapshot signal for `tables` (undefined: every captured table). Nothing is
 * written when the source's slot does not exist: no capture could ever read the signal.
 */
export async function emitSnapshotSignal(
  config: PostgresSourceConfig,
  tables?: string[],
): Promise<SignalResult> {
  const c = config.connection;
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
    application_name: `tributary-signal-${config.name}`,
  });
  try {
    await client.connect();
  } catch (err) {
    throw errors.connectionFailed(`${c.host}:${c.port}/${c.database}`, c.user, err);
  }
  try {
    const signal: SnapshotSignal = { type: 'execute-snapshot', source: config.name };
    if (tables) signal.tables = tables;
    const { slot } = derivedNames(config);
    const state = await readSlot(client, slot);
    const result = {
      signal,
      lsn: null as string | null,
      slot,
      slotExists: state.exists,
      slotActive: state.exists && state.active === true,
    };
    if (!state.exists) return result;
    const res = await client.query<{ lsn: string }>(
      'SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn',
      [SIGNAL_PREFIX, formatSignal(signal)],
    );
    result.lsn = res.rows[0]!.lsn;
    return result;
  } finally {
    await client.end().catch(() => undefined);
  }
}

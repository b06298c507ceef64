/**
 * Setup and runtime errors of the PostgreSQL connector. Each one says what is wrong and the
 * exact statement or setting that fixes it. All are permanent (not retried) except
 * connection failures, which the caller may retry.
 */
import { TributaryError } from '../../core/errors/index.ts';

export class PostgresSetupError extends TributaryError {
  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

export function connectionFailed(target: string, user: string, err: unknown): PostgresSetupError {
  const e = err as { code?: string; message?: string };
  if (e.code === '28P01' || e.code === '28000') {
    return new PostgresSetupError(
      'PG_AUTH_FAILED',
      `PostgreSQL at ${target} rejected user "${user}": ${e.message}. Check connection.user and connection.password (a password may be given as \${env:PG_PASSWORD}).`,
      { cause: err },
    );
  }
  if (e.code === '3D000') {
    return new PostgresSetupError(
      'PG_NO_DATABASE',
      `${e.message} at ${target}. Check connection.database.`,
      { cause: err },
    );
  }
  return new PostgresSetupError(
    'PG_CONNECT_FAILED',
    `cannot connect to PostgreSQL at ${target}: ${e.message ?? String(err)}. Is the server running and reachable (connection.host, connection.port)?`,
    { cause: err, retryable: true },
  );
}

export function walLevelNotLogical(current: string): PostgresSetupError {
  return new PostgresSetupError(
    'PG_WAL_LEVEL',
    `wal_level is "${current}" but logical decoding needs "logical". Run: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.`,
  );
}

export function noReplicationPermission(user: string): PostgresSetupError {
  return new PostgresSetupError(
    'PG_NO_REPLICATION',
    `role "${user}" may not stream changes. Run as a superuser: ALTER ROLE "${user}" WITH REPLICATION;`,
  );
}

export function unknownTable(
  name: string,
  suggestion: string | undefined,
  available: string[],
): PostgresSetupError {
  const hint = suggestion
    ? ` — did you mean "${suggestion}"?`
    : available.length
      ? ` (tables in that schema: ${available.slice(0, 10).join(', ')})`
      : '';
  return new PostgresSetupError('PG_UNKNOWN_TABLE', `tables: unknown table "${name}"${hint}`);
}

export function noKey(table: string): PostgresSetupError {
  return new PostgresSetupError(
    'PG_NO_KEY',
    `table ${table} has no primary key and no replica identity index, so its changes cannot be keyed. ` +
      `Add a primary key (ALTER TABLE ${table} ADD PRIMARY KEY (...);) or run: ALTER TABLE ${table} REPLICA IDENTITY FULL;`,
  );
}

export function noSelectPermission(user: string, table: string): PostgresSetupError {
  return new PostgresSetupError(
    'PG_NO_SELECT',
    `role "${user}" cannot read ${table}. Run: GRANT SELECT ON ${table} TO "${user}";`,
  );
}

export function publicationFailed(statement: string, err: unknown): PostgresSetupError {
  return new PostgresSetupError(
    'PG_PUBLICATION',
    `could not create or alter the publication (${(err as Error).message}). Run as the tables' owner or a superuser: ${statement}`,
    { cause: err },
  );
}

export function keyColumnFiltered(column: string): PostgresSetupError {
  return new PostgresSetupError(
    'PG_KEY_COLUMN_EXCLUDED',
    `columns: the key column "${column}" is filtered out, but key columns identify the row and cannot be excluded. Change columns.exclude (or columns.include) so it no longer drops "${column}".`,
  );
}

export function slotInUse(slot: string, pid: number | null): PostgresSetupError {
  return new PostgresSetupError(
    'PG_SLOT_IN_USE',
    `replication slot "${slot}" is in use by another process${pid ? ` (pid ${pid})` : ''}: another capture of this source is running. Stop it first.`,
    { retryable: true },
  );
}

export function wrongSlotPlugin(
  slot: string,
  plugin: string,
  database: string,
): PostgresSetupError {
  return new PostgresSetupError(
    'PG_SLOT_MISMATCH',
    `replication slot "${slot}" uses plugin "${plugin}" on database "${database}"; Tributary needs pgoutput on this database. Drop it (SELECT pg_drop_replication_slot('${slot}');) or configure another slot name.`,
  );
}

/**
 * Target tables: naming, column types inferred from JSON values, and the DDL the sink runs.
 *
 * Each target table `<t>` gets a companion `<t>__versions (__key text COLLATE "C" primary key,
 * __version numeric(20,0), __deleted boolean)` holding the newest version applied per key,
 * deletes included. It is the guard every write goes through (see sink.ts), so the data table
 * itself holds only live rows and a replayed older insert cannot resurrect a deleted one.
 */
import type { Row, RowKey } from '../../core/events/index.ts';

export const VERSION_COLUMN = '__version';

/** Quotes an identifier for SQL. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Table name for a topic from the `table` template (`${table}` = last topic segment). */
export function tableName(template: string, topic: string): string {
  const segments = topic.split('.');
  return template
    .replaceAll('${table}', segments[segments.length - 1] ?? topic)
    .replaceAll('${topic}', topic.replace(/[^A-Za-z0-9_]/g, '_'));
}

export function versionsTable(table: string): string {
  return `${table}__versions`;
}

/**
 * PostgreSQL type for a JSON value as Debezium writes it. Limits: temporal types arrive as
 * epoch numbers (bigint) or ISO strings (text), decimals as strings (text) and bytes as base64
 * (text); a column first seen as null is text. Pre-create the table for exact types: the sink
 * only adds missing columns and never changes a column's type.
 */
export function inferType(value: unknown): string {
  switch (typeof value) {
    case 'boolean':
      return 'boolean';
    case 'bigint':
      return 'numeric';
    case 'number':
      return Number.isInteger(value) ? 'bigint' : 'double precision';
    case 'object':
      return value === null ? 'text' : 'jsonb';
    default:
      return 'text';
  }
}

export function createTableSql(
  schema: string,
  table: string,
  key: RowKey,
  row: Row | null,
): string {
  const cols = new Map<string, string>();
  for (const [c, v] of Object.entries(key)) cols.set(c, `${inferType(v)} NOT NULL`);
  for (const [c, v] of Object.entries(row ?? {})) if (!cols.has(c)) cols.set(c, inferType(v));
  cols.set(VERSION_COLUMN, 'numeric(20,0) NOT NULL');
  const defs = [...cols].map(([c, t]) => `${ident(c)} ${t}`);
  defs.push(`PRIMARY KEY (${Object.keys(key).map(ident).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${ident(schema)}.${ident(table)} (${defs.join(', ')})`;
}

export function createVersionsTableSql(schema: string, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${ident(schema)}.${ident(versionsTable(table))} (
    __key text COLLATE "C" PRIMARY KEY, __version numeric(20,0) NOT NULL, __deleted boolean NOT NULL)`;
}

export function addColumnSql(schema: string, table: string, column: string, type: string): string {
  return `ALTER TABLE ${ident(schema)}.${ident(table)} ADD COLUMN IF NOT EXISTS ${ident(column)} ${type}`;
}

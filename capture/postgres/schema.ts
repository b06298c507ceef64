/**
 * Table schemas of captured tables: column converters (PostgreSQL text → Debezium values),
 * key columns and the Kafka Connect schemas of key and row. Built from the catalog at start and
 * rebuilt from every pgoutput Relation message, so additive DDL flows through without restart.
 */
import type pg from 'pg';
import { field, stringifyValue } from '../../core/events/index.ts';
import type { ConnectSchema, EventSchemas, Row, RowKey } from '../../core/events/index.ts';
import type { JsonBytes } from '../../core/events/json-bytes.ts';
import {
  COLUMN_NULL,
  COLUMN_UNCHANGED_TOAST,
  textAt,
  UNCHANGED_TOAST,
} from './connection/pgoutput.ts';
import type { TupleSpans, TupleValue } from './connection/pgoutput.ts';
import { converterFor } from './types.ts';
import type { ColumnConverter, PgTypeCatalog, TypeMappingOptions } from './types.ts';

export const PG_SOURCE_SCHEMA: ConnectSchema = {
  type: 'struct',
  fields: [
    field('version', { type: 'string', optional: false }),
    field('connector', { type: 'string', optional: false }),
    field('name', { type: 'string', optional: false }),
    field('ts_ms', { type: 'int64', optional: false }),
    field('snapshot', {
      type: 'string',
      optional: true,
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: {
        allowed:
          'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
      },
      default: 'false',
    }),
    field('db', { type: 'string', optional: false }),
    field('sequence', { type: 'string', optional: true }),
    field('ts_us', { type: 'int64', optional: true }),
    field('ts_ns', { type: 'int64', optional: true }),
    field('schema', { type: 'string', optional: false }),
    field('table', { type: 'string', optional: false }),
    field('txId', { type: 'int64', optional: true }),
    field('lsn', { type: 'int64', optional: true }),
    field('xmin', { type: 'int64', optional: true }),
  ],
  optional: false,
  name: 'io.debezium.connector.postgresql.Source',
};

/** Catalog facts about one table (columns in attnum order, without dropped/generated ones). */
export interface TableMeta {
  schema: string;
  table: string;
  oid: number;
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: Array<{
    name: string;
    typeOid: number;
    typmod: number;
    notNull: boolean;
    sqlType: string;
  }>;
  /** Primary-key columns (or the replica identity index columns), in key order. */
  keyColumns: string[];
}

export interface ColumnInfo {
  name: string;
  typeOid: number;
  typmod: number;
}

/** How a table's events are shaped: topic prefix, column filter and topic routing. */
export interface TableShape {
  prefix: string;
  /** Is the column "schema.table.column" captured? (Key columns always are.) Default: all. */
  column?: (qualified: string) => boolean;
  /** The topic a default topic name is routed to, and an optional extra key field. */
  route?: (topic: string) => { topic: string; keyField?: string };
}

export class TableSchema {
  readonly name: string;
  /** The topic events are published to (after routing). */
  readonly topic: string;
  /** The topic before routing: "<prefix>.<schema>.<table>". */
  readonly defaultTopic: string;
  /** Every column of the relation, in tuple order (captured or not). */
  readonly columns: ColumnInfo[];
  /** Per column: is it in the events? */
  readonly captured: boolean[];
  readonly converters: ColumnConverter[];
  readonly keyColumns: string[];
  /** Extra key field holding `defaultTopic` (tables routed into one topic keep unique keys). */
  readonly keyField: string | undefined;
  readonly schemas: EventSchemas;
  private readonly keyIndexes: number[];
  /**
   * JSON writing straight from tuples (tupleJson/rowJson/keyJson): column indexes in the order
   * toRow's and keyOf's objects enumerate their properties (integer-like names first, as in any
   * JS object; -1 = keyField), each with its quoted name.
   */
  private readonly rowOrder: number[];
  private readonly keyOrder: number[];
  private readonly quotedNames: string[];
  private readonly unavailableJson: Array<string | undefined>;
  private readonly keyFieldJson: string;
  /**
   * The byte path (writeRow), as UTF-8: `{"<name>":` for the first field of a row, `,"<name>":`
   * for the others, and the TOAST placeholder's JSON.
   */
  private readonly openNameBytes: Buffer[];
  private readonly nameBytes: Buffer[];
  private readonly unavailableBytes: Array<Buffer | undefined>;
  /** keyText's column texts (only the key columns are set). */
  private readonly keyScratch: Array<string | undefined>;
  /** `"schema":"<schema>","table":"<table>"`, the table's part of the source block JSON. */
  readonly sourceTableJson: string;
  readonly sourceTableBytes: Buffer;

  constructor(
    readonly meta: TableMeta,
    columns: ColumnInfo[],
    catalog: PgTypeCatalog,
    options: TypeMappingOptions,
    shape: TableShape,
  ) {
    this.name = `${meta.schema}.${meta.table}`;
    this.defaultTopic = `${shape.prefix}.${meta.schema}.${meta.table}`;
    const routed = shape.route?.(this.defaultTopic) ?? { topic: this.defaultTopic };
    this.topic = routed.topic;
    this.keyField = routed.keyField;
    this.columns = columns;
    this.converters = columns.map((c) =>
      converterFor({ typeOid: c.typeOid, typmod: c.typmod }, catalog, options),
    );
    this.keyColumns = meta.keyColumns.filter((k) => columns.some((c) => c.name === k));
    this.keyIndexes = this.keyColumns.map((k) => columns.findIndex((c) => c.name === k));
    const isCaptured = shape.column ?? (() => true);
    this.captured = columns.map(
      (c) => this.keyColumns.includes(c.name) || isCaptured(`${this.name}.${c.name}`),
    );
    const notNull = new Map(meta.columns.map((c) => [c.name, c.notNull]));
    const fields = columns.map((c, i) =>
      field(c.name, { ...this.converters[i]!.schema, optional: !(notNull.get(c.name) ?? false) }),
    );
    const keyFields = this.keyIndexes.map((i) => ({ ...fields[i]!, optional: false }));
    if (this.keyField) keyFields.push(field(this.keyField, { type: 'string', optional: false }));
    // Like Debezium's ByLogicalTableRouter, a logical table (keyField set) names its schemas after
    // the routed topic; a plain route keeps the table's own schema names.
    const base = this.keyField ? this.topic : this.defaultTopic;
    this.schemas = {
      key: {
        type: 'struct',
        fields: keyFields,
        optional: false,
        name: `${base}.Key`,
      },
      row: {
        type: 'struct',
        fields: fields.filter((_, i) => this.captured[i]),
        optional: true,
        name: `${base}.Value`,
      },
      source: PG_SOURCE_SCHEMA,
      envelopeName: `${base}.Envelope`,
    };
    // Mirror the property order of the objects toRow and keyOf build. "__proto__" never becomes
    // an own property by assignment, so JSON never shows it.
    const rowProbe: Record<string, number> = {};
    columns.forEach((c, i) => {
      if (this.captured[i] && c.name !== '__proto__') rowProbe[c.name] = i;
    });
    this.rowOrder = Object.keys(rowProbe).map((k) => rowProbe[k]!);
    const keyProbe: Record<string, number> = {};
    this.keyColumns.forEach((k, j) => {
      if (k !== '__proto__') keyProbe[k] = this.keyIndexes[j]!;
    });
    if (this.keyField !== undefined && this.keyField !== '__proto__') keyProbe[this.keyField] = -1;
    this.keyOrder = Object.keys(keyProbe).map((k) => keyProbe[k]!);
    this.quotedNames = columns.map((c) => JSON.stringify(c.name) + ':');
    this.unavailableJson = this.converters.map((c) => stringifyValue(c.unavailable));
    this.sourceTableJson = `"schema":${JSON.stringify(meta.schema)},"table":${JSON.stringify(meta.table)}`;
    this.sourceTableBytes = Buffer.from(this.sourceTableJson);
    this.openNameBytes = this.quotedNames.map((n) => Buffer.from('{' + n));
    this.nameBytes = this.quotedNames.map((n) => Buffer.from(',' + n));
    this.unavailableBytes = this.unavailableJson.map((j) => (j === undefined ? j : Buffer.from(j)));
    this.keyScratch = new Array<string | undefined>(columns.length);
    this.keyFieldJson =
      this.keyField === undefined
        ? ''
        : JSON.stringify(this.keyField) + ':' + JSON.stringify(this.defaultTopic);
  }

  /**
   * The JSON text of each captured column's value (what toRow would hold, as stringifyJson
   * writes it); undefined for columns not captured. Same conversions and errors as toRow.
   */
  tupleJson(values: TupleValue[], unavailable?: string[]): Array<string | undefined> {
    const cols = this.columns;
    const out = new Array<string | undefined>(cols.length);
    for (let i = 0; i < cols.length; i++) {
      if (!this.captured[i]) continue;
      const v = values[i];
      if (v === null || v === undefined) out[i] = 'null';
      else if (v === UNCHANGED_TOAST) {
        out[i] = this.unavailableJson[i];
        unavailable?.push(cols[i]!.name);
      } else out[i] = this.converters[i]!.toJson(v);
    }
    return out;
  }

  /** stringifyJson(toRow(values)), from tupleJson's result. */
  rowJson(json: Array<string | undefined>): string {
    return this.objectJson(json, this.rowOrder);
  }

  /** stringifyJson(keyOf(toRow(values))), from tupleJson's result. */
  keyJson(json: Array<string | undefined>): string {
    return this.objectJson(json, this.keyOrder);
  }

  /**
   * rowJson(tupleJson(values)) written as UTF-8 bytes into `out`, from the tuple's column texts
   * where they lie in `src` (its pgoutput message): no text is made for a column whose
   * converter writes its JSON from bytes (ColumnConverter.writeJson). Unchanged TOAST columns
   * are collected in `unavailable`, in column order, as tupleJson does.
   */
  writeRow(src: Buffer, spans: TupleSpans, out: JsonBytes, unavailable?: string[]): void {
    let first = true;
    const order = this.rowOrder;
    for (let j = 0; j < order.length; j++) {
      const i = order[j]!;
      const mark = out.mark();
      out.bytes(first ? this.openNameBytes[i]! : this.nameBytes[i]!);
      const kind = i < spans.count ? spans.kind[i] : COLUMN_NULL;
      if (kind === COLUMN_NULL) out.bytes(NULL_JSON);
      else if (kind === COLUMN_UNCHANGED_TOAST) {
        const placeholder = this.unavailableBytes[i];
        if (placeholder === undefined) {
          out.pos = out.start + mark; // omitted, as JSON omits undefined
          continue;
        }
        out.bytes(placeholder);
      } else {
        const start = spans.start[i]!;
        const end = spans.end[i]!;
        const c = this.converters[i]!;
        if (c.writeJson === undefined || !c.writeJson(src, start, end, out)) {
          const json = c.toJson(textAt(src, start, end));
          if (json === undefined) {
            out.pos = out.start + mark;
            continue;
          }
          out.text(json);
        }
      }
      first = false;
    }
    if (first) out.byte(0x7b); // { of a row without fields
    out.byte(0x7d); // }
    // Every captured column, in column order (a "__proto__" column is in no row's JSON).
    if (spans.unchanged > 0 && unavailable)
      for (let i = 0; i < this.columns.length; i++)
        if (this.captured[i] && i < spans.count && spans.kind[i] === COLUMN_UNCHANGED_TOAST)
          unavailable.push(this.columns[i]!.name);
  }

  /** keyJson(tupleJson(values)) from the tuple's column texts where they lie in `src`. */
  keyText(src: Buffer, spans: TupleSpans): string {
    const json = this.keyScratch;
    for (const i of this.keyIndexes) {
      const kind = i < spans.count ? spans.kind[i] : COLUMN_NULL;
      json[i] =
        kind === COLUMN_NULL
          ? 'null'
          : kind === COLUMN_UNCHANGED_TOAST
            ? this.unavailableJson[i]
            : this.converters[i]!.toJson(textAt(src, spans.start[i]!, spans.end[i]!));
    }
    return this.objectJson(json, this.keyOrder);
  }

  private objectJson(json: Array<string | undefined>, order: number[]): string {
    let out = '{';
    for (let j = 0; j < order.length; j++) {
      const i = order[j]!;
      let field: string;
      if (i < 0) field = this.keyFieldJson;
      else {
        const v = json[i];
        if (v === undefined) continue; // omitted, as JSON omits undefined
        field = this.quotedNames[i]! + v;
      }
      out += out.length === 1 ? field : ',' + field;
    }
    return out + '}';
  }

  /**
   * Converts a tuple (text values in column order) into a row. Unchanged TOAST values become
   * the placeholder and their column names are collected in `unavailable`.
   */
  toRow(values: TupleValue[], unavailable?: string[]): Row {
    const row: Row = {};
    const cols = this.columns;
    for (let i = 0; i < cols.length; i++) {
      if (!this.captured[i]) continue;
      const v = values[i];
      const name = cols[i]!.name;
      if (v === null || v === undefined) row[name] = null;
      else if (v === UNCHANGED_TOAST) {
        row[name] = this.converters[i]!.unavailable;
        unavailable?.push(name);
      } else row[name] = this.converters[i]!.fromText(v);
    }
    return row;
  }

  keyOf(row: Row): RowKey {
    const key: RowKey = {};
    for (const k of this.keyColumns) key[k] = row[k];
    if (this.keyField) key[this.keyField] = this.defaultTopic;
    return key;
  }
}

const NULL_JSON = Buffer.from('null');

/** Loads catalog facts for the given "schema.table" names (missing tables are absent from the map). */
export async function loadTableMeta(
  client: pg.ClientBase,
  names: string[],
): Promise<Map<string, TableMeta>> {
  const res = await client.query<{
    oid: number;
    nspname: string;
    relname: string;
    relreplident: string;
    attname: string;
    atttypid: number;
    atttypmod: number;
    attnotnull: boolean;
    sqltype: string;
    pk: string[] | null;
    ri: string[] | null;
  }>(
    `SELECT c.oid::int AS oid, n.nspname, c.relname, c.relreplident::text AS relreplident,
            a.attname, a.atttypid::int AS atttypid, a.atttypmod, a.attnotnull,
            format_type(a.atttypid, a.atttypmod) AS sqltype,
            (SELECT array_agg(k.attname::text ORDER BY x.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS x(attnum, ord)
               JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = x.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
            (SELECT array_agg(k.attname::text ORDER BY x.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS x(attnum, ord)
               JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = x.attnum
              WHERE i.indrelid = c.oid AND i.indisreplident) AS ri
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      WHERE c.relkind IN ('r', 'p') AND (n.nspname || '.' || c.relname) = ANY($1::text[])
      ORDER BY n.nspname, c.relname, a.attnum`,
    [names],
  );
  const out = new Map<string, TableMeta>();
  for (const r of res.rows) {
    const name = `${r.nspname}.${r.relname}`;
    let meta = out.get(name);
    if (!meta) {
      const keyColumns = r.pk ?? r.ri ?? [];
      meta = {
        schema: r.nspname,
        table: r.relname,
        oid: r.oid,
        replicaIdentity: r.relreplident as TableMeta['replicaIdentity'],
        columns: [],
        keyColumns,
      };
      out.set(name, meta);
    }
    meta.columns.push({
      name: r.attname,
      typeOid: r.atttypid,
      typmod: r.atttypmod,
      notNull: r.attnotnull,
      sqlType: r.sqltype,
    });
  }
  for (const meta of out.values()) {
    // REPLICA IDENTITY FULL without a key: every column identifies the row.
    if (meta.keyColumns.length === 0 && meta.replicaIdentity === 'f')
      meta.keyColumns = meta.columns.map((c) => c.name);
  }
  return out;
}

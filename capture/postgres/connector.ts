/**
 * The PostgreSQL connector: the one place where its parts are constructed. It checks the
 * setup (wal_level, replication permission, tables and their keys, publication, slot), then
 * hands the engine a pgoutput change stream and a keyset snapshot reader.
 */
import pg from 'pg';
import { nearest } from '../../core/config/index.ts';
import type { TopicSpec } from '../../core/kafka/index.ts';
import type { CaptureConnector, ResumeCheck, SourceHealth } from '../engine/engine.ts';
import type { ChangeStream, SnapshotReader, StoredOffset, StreamSink } from '../engine/types.ts';
import type { PostgresSourceConfig } from './config.ts';
import { columnFilter, derivedNames, topicRouter } from './config.ts';
import type { RelationMessage } from './connection/pgoutput.ts';
import { quoteIdent, ReplicationConnection } from './connection/replication.ts';
import * as errors from './errors.ts';
import { checkResume, readSlot } from './offsets.ts';
import type { PgFacts } from './offsets.ts';
import { loadTableMeta, TableSchema } from './schema.ts';
import type { TableMeta, TableShape } from './schema.ts';
import { PgSnapshotReader } from './snapshot.ts';
import { PgChangeStream, transactionTopic } from './stream.ts';
import { loadTypeCatalog } from './types.ts';
import type { PgTypeCatalog, TypeMappingOptions } from './types.ts';

export class PostgresConnector implements CaptureConnector {
  readonly name: string;
  private readonly names: ReturnType<typeof derivedNames>;
  private pool: pg.Pool | null = null;
  private metas = new Map<string, TableMeta>();
  private schemas = new Map<string, TableSchema>();
  private catalog: PgTypeCatalog | null = null;
  private systemId = '';
  private readonly shape: TableShape;

  constructor(
    private readonly config: PostgresSourceConfig,
    private readonly log: (message: string) => void = () => undefined,
  ) {
    this.name = config.name;
    this.names = derivedNames(config);
    this.shape = {
      prefix: this.names.prefix,
      column: columnFilter(config.columns),
      route: topicRouter(config.topic.routes),
    };
  }

  private get target(): string {
    const c = this.config.connection;
    return `${c.host}:${c.port}/${c.database}`;
  }

  private get typeOptions(): TypeMappingOptions {
    return this.config.types;
  }

  async prepare(): Promise<void> {
    const c = this.config.connection;
    this.pool = new pg.Pool({
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      password: c.password,
      max: 4,
      application_name: `tributary-${this.name}`,
    });
    this.pool.on('error', (err) => this.log(`postgres pool: ${err.message}`));
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw errors.connectionFailed(this.target, c.user, err);
    }
    try {
      const wal = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
      if (wal !== 'logical') throw errors.walLevelNotLogical(wal);
      const role = (
        await client.query<{ rolreplication: boolean; rolsuper: boolean }>(
          'SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user',
        )
      ).rows[0];
      if (!role || (!role.rolreplication && !role.rolsuper))
        throw errors.noReplicationPermission(c.user);
      this.systemId = (
        await client.query<{ system_identifier: string }>(
          'SELECT system_identifier::text FROM pg_control_system()',
        )
      ).rows[0]!.system_identifier;

      const wanted = await this.resolveTables(client);
      this.metas = await loadTableMeta(client, wanted);
      for (const t of wanted) {
        const meta = this.metas.get(t)!;
        if (meta.keyColumns.length === 0) throw errors.noKey(t);
        for (const k of meta.keyColumns)
          if (!this.shape.column!(`${t}.${k}`)) throw errors.keyColumnFiltered(`${t}.${k}`);
        const ok = (
          await client.query<{ ok: boolean }>('SELECT has_table_privilege($1, $2, $3) AS ok', [
            c.user,
            t,
            'SELECT',
          ])
        ).rows[0]!.ok;
        if (!ok) throw errors.noSelectPermission(c.user, t);
      }
      this.catalog = await loadTypeCatalog(client);
      for (const meta of this.metas.values())
        this.schemas.set(`${meta.schema}.${meta.table}`, this.schemaFromCatalog(meta));
      await this.ensurePublication(client, wanted);
    } finally {
      client.release();
    }
  }

  topics(): TopicSpec[] {
    const names = [...new Set([...this.schemas.values()].map((s) => s.topic))];
    if (this.config.transactionMetadata) names.push(transactionTopic(this.names.prefix));
    return names.map((name) => ({
      name,
      partitions: this.config.topic.partitions,
      replicationFactor: this.config.topic.replicationFactor,
    }));
  }

  facts(): PgFacts {
    return {
      slot: this.names.slot,
      systemId: this.systemId,
      database: this.config.connection.database,
    };
  }

  async checkResume(stored: StoredOffset | null): Promise<ResumeCheck> {
    const slot = await readSlot(this.pool!, this.names.slot);
    const check = checkResume(stored, slot, this.facts());
    if (!check.ok) return check;
    if (slot.exists) {
      if (slot.plugin !== 'pgoutput' || slot.database !== this.config.connection.database) {
        throw errors.wrongSlotPlugin(this.names.slot, slot.plugin ?? '?', slot.database ?? '?');
      }
      if (slot.active) throw errors.slotInUse(this.names.slot, slot.activePid ?? null);
    } else {
      await this.createSlot();
    }
    return check;
  }

  async resetAfterLoss(): Promise<void> {
    const slot = await readSlot(this.pool!, this.names.slot);
    if (slot.exists)
      await this.pool!.query('SELECT pg_drop_replication_slot($1)', [this.names.slot]);
    await this.createSlot();
  }

  async openStream(sink: StreamSink, _from: StoredOffset | null): Promise<ChangeStream> {
    const c = this.config.connection;
    const connection = new ReplicationConnection({
      ...c,
      slot: this.names.slot,
      publications: [this.names.publication],
      applicationName: `tributary-${this.name}`,
    });
    try {
      await connection.connect();
    } catch (err) {
      throw errors.connectionFailed(this.target, c.user, err);
    }
    try {
      const stream = new PgChangeStream(connection, sink, {
        name: this.name,
        database: c.database,
        prefix: this.names.prefix,
        tables: this.metas,
        buildSchema: (meta, relation) => this.schemaFromRelation(meta, relation),
        transactionMetadata: this.config.transactionMetadata,
        log: this.log,
      });
      stream.start();
      return stream;
    } catch (err) {
      // Nobody else holds the connection yet: left open, it would keep the slot active.
      await connection.close();
      throw err;
    }
  }

  snapshotReader(): SnapshotReader {
    return new PgSnapshotReader(this.pool!, {
      name: this.name,
      database: this.config.connection.database,
      schemas: () => [...this.schemas.values()],
      log: this.log,
    });
  }

  async health(): Promise<SourceHealth> {
    const slot = await readSlot(this.pool!, this.names.slot);
    if (!slot.exists)
      return {
        fatal: `replication slot "${this.names.slot}" was dropped while the capture was running`,
      };
    const h: SourceHealth = {
      lagBytes: slot.lagBytes ?? undefined,
      walStatus: slot.walStatus ?? undefined,
    };
    if (slot.walStatus === 'lost')
      h.fatal = `replication slot "${this.names.slot}" has wal_status "lost": PostgreSQL removed WAL the capture had not read`;
    else if ((slot.lagBytes ?? 0) > this.config.slotLagWarnBytes) {
      h.warning = `slot "${this.names.slot}" retains ${slot.lagBytes} bytes of WAL (over slotLagWarnBytes=${this.config.slotLagWarnBytes}); wal_status ${slot.walStatus}`;
    }
    return h;
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = null;
  }

  private async resolveTables(client: pg.PoolClient): Promise<string[]> {
    const all = (
      await client.query<{ name: string }>(
        `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      )
    ).rows.map((r) => r.name);
    if (this.config.schema) {
      const inSchema = all.filter((t) => t.startsWith(`${this.config.schema}.`));
      if (inSchema.length === 0)
        throw errors.unknownTable(`${this.config.schema}.*`, undefined, []);
      return inSchema;
    }
    const wanted = this.config.tables!;
    for (const t of wanted) {
      if (!all.includes(t)) {
        const schema = t.split('.')[0]!;
        throw errors.unknownTable(
          t,
          nearest(t, all),
          all.filter((a) => a.startsWith(`${schema}.`)),
        );
      }
    }
    return wanted;
  }

  private async ensurePublication(client: pg.PoolClient, tables: string[]): Promise<void> {
    const pub = this.names.publication;
    const list = tables.map((t) => t.split('.').map(quoteIdent).join('.')).join(', ');
    const exists =
      (await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub])).rowCount! > 0;
    if (!exists) {
      const stmt = `CREATE PUBLICATION ${quoteIdent(pub)} FOR TABLE ${list};`;
      try {
        await client.query(stmt);
        this.log(`created publication ${pub} for ${tables.length} table(s)`);
      } catch (err) {
        throw errors.publicationFailed(stmt, err);
      }
      return;
    }
    const have = new Set(
      (
        await client.query<{ name: string }>(
          `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1`,
          [pub],
        )
      ).rows.map((r) => r.name),
    );
    const missing = tables.filter((t) => !have.has(t));
    if (missing.length > 0) {
      const stmt = `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${missing.map((t) => t.split('.').map(quoteIdent).join('.')).join(', ')};`;
      try {
        await client.query(stmt);
        this.log(`added ${missing.join(', ')} to publication ${pub}`);
      } catch (err) {
        throw errors.publicationFailed(stmt, err);
      }
    }
  }

  private async createSlot(): Promise<void> {
    const res = await this.pool!.query<{ lsn: string }>(
      "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
      [this.names.slot],
    );
    this.log(`created replication slot ${this.names.slot} at ${res.rows[0]?.lsn ?? '?'}`);
  }

  private schemaFromCatalog(meta: TableMeta): TableSchema {
    return new TableSchema(meta, meta.columns, this.catalog!, this.typeOptions, this.shape);
  }

  /** Schema for a Relation message; refreshes the catalogs when it shows something new. */
  private schemaFromRelation(
    meta: TableMeta,
    relation: RelationMessage,
  ): TableSchema | Promise<TableSchema> {
    const known = new Set(meta.columns.map((c) => c.name));
    const unknownType = relation.columns.some((c) => this.catalog!.get(c.typeOid) === undefined);
    const newColumn = relation.columns.some((c) => !known.has(c.name));
    const build = () => {
      const m = this.metas.get(`${relation.schema}.${relation.table}`) ?? meta;
      const schema = new TableSchema(
        m,
        relation.columns,
        this.catalog!,
        this.typeOptions,
        this.shape,
      );
      this.schemas.set(schema.name, schema);
      return schema;
    };
    if (!unknownType && !newColumn) return build();
    return (async () => {
      const client = await this.pool!.connect();
      try {
        await this.catalog!.refresh(client);
        const fresh = await loadTableMeta(client, [`${relation.schema}.${relation.table}`]);
        for (const [k, v] of fresh) this.metas.set(k, v);
      } finally {
        client.release();
      }
      this.log(
        `schema of ${relation.schema}.${relation.table} changed (now ${relation.columns.length} columns)`,
      );
      return build();
    })();
  }
}

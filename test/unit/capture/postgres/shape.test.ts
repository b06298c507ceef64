// Column filtering and topic routing of PostgreSQL capture: config validation, Debezium's
// regex semantics (whole name, case-insensitive columns; RegexRouter's first match wins) and
// their effect on rows, keys and Connect schemas.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../core/errors/index.ts';
import {
  columnFilter,
  parsePostgresSource,
  topicRouter,
} from '../../../../capture/postgres/config.ts';
import { TableSchema } from '../../../../capture/postgres/schema.ts';
import type { TableMeta } from '../../../../capture/postgres/schema.ts';
import { DEFAULT_TYPE_MAPPING_OPTIONS, typeCatalogOf } from '../../../../capture/postgres/types.ts';

const base = {
  name: 'shop',
  connection: { database: 'db', user: 'u' },
  tables: ['public.users'],
};

function configError(input: unknown): string {
  try {
    parsePostgresSource(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a config error');
}

describe('columns config', () => {
  test('include and exclude are mutually exclusive', () => {
    const msg = configError({ ...base, columns: { include: ['a'], exclude: ['b'] } });
    assert.match(msg, /columns/);
    assert.match(msg, /either "include" or "exclude"/);
  });

  test('an invalid regular expression names its path', () => {
    const msg = configError({ ...base, columns: { exclude: ['public.users.(x'] } });
    assert.match(msg, /columns\.exclude\[0\]/);
    assert.match(msg, /not a valid regular expression/);
  });

  test('exclude matches the whole schema.table.column name, case-insensitively', () => {
    const keep = columnFilter({ exclude: ['public\\.users\\.(ssn|card_.*)'] });
    assert.equal(keep('public.users.ssn'), false);
    assert.equal(keep('PUBLIC.Users.SSN'), false);
    assert.equal(keep('public.users.card_number'), false);
    assert.equal(keep('public.users.ssn_hash'), true); // whole-name match only
    assert.equal(keep('other.users.ssn'), true);
    assert.equal(keep('public.users.name'), true);
  });

  test('include keeps only matching columns', () => {
    const keep = columnFilter({ include: ['public.users.(id|name)'] });
    assert.equal(keep('public.users.id'), true);
    assert.equal(keep('public.users.name'), true);
    assert.equal(keep('public.users.email'), false);
    assert.equal(columnFilter(undefined)('anything.at.all'), true);
  });
});

describe('topic routes', () => {
  test('first matching route wins; the whole name must match; $1 groups', () => {
    const route = topicRouter(
      parsePostgresSource({
        ...base,
        topic: {
          routes: [
            { match: 'shop\\.public\\.orders_(\\d+)', replace: 'shop.orders', keyField: 'shard' },
            { match: 'shop\\.public\\.(.*)', replace: 'all.$1' },
            { match: 'shop\\.public\\.users', replace: 'never' },
          ],
        },
      }).topic.routes,
    );
    assert.deepEqual(route('shop.public.orders_7'), { topic: 'shop.orders', keyField: 'shard' });
    assert.deepEqual(route('shop.public.users'), { topic: 'all.users', keyField: undefined });
    assert.deepEqual(route('xshop.public.users'), { topic: 'xshop.public.users' });
    assert.deepEqual(route('shop.public'), { topic: 'shop.public' });
  });

  test('a route needs match and replace; unknown keys are named', () => {
    assert.match(configError({ ...base, topic: { routes: [{ match: 'a' }] } }), /routes\[0\]/);
    assert.match(
      configError({ ...base, topic: { routes: [{ match: 'a', replace: 'b', regex: 'c' }] } }),
      /regex/,
    );
  });
});

describe('TableSchema shaped by columns and routes', () => {
  const catalog = typeCatalogOf([]);
  const meta: TableMeta = {
    schema: 'public',
    table: 'users',
    oid: 1,
    replicaIdentity: 'd',
    columns: [
      { name: 'id', typeOid: 23, typmod: -1, notNull: true, sqlType: 'integer' },
      { name: 'name', typeOid: 25, typmod: -1, notNull: false, sqlType: 'text' },
      { name: 'ssn', typeOid: 25, typmod: -1, notNull: false, sqlType: 'text' },
    ],
    keyColumns: ['id'],
  };

  test('excluded columns vanish from rows and the row schema; keys stay', () => {
    const t = new TableSchema(meta, meta.columns, catalog, DEFAULT_TYPE_MAPPING_OPTIONS, {
      prefix: 'shop',
      column: columnFilter({ exclude: ['public.users.ssn', 'public.users.id'] }),
    });
    const row = t.toRow(['1', 'ann', '123-45']);
    assert.deepEqual(row, { id: 1, name: 'ann' });
    assert.deepEqual(
      t.schemas.row.fields!.map((f) => f.field),
      ['id', 'name'],
    );
    assert.deepEqual(t.keyOf(row), { id: 1 });
    assert.equal(t.topic, 'shop.public.users');
  });

  test('a route with keyField renames the topic and adds the table identity to the key', () => {
    const t = new TableSchema(meta, meta.columns, catalog, DEFAULT_TYPE_MAPPING_OPTIONS, {
      prefix: 'shop',
      route: topicRouter([
        {
          match: 'shop\\.public\\.(.*)',
          replace: 'all',
          keyField: '__dbz__physicalTableIdentifier',
        },
      ]),
    });
    assert.equal(t.topic, 'all');
    assert.deepEqual(t.keyOf(t.toRow(['1', 'ann', null])), {
      id: 1,
      __dbz__physicalTableIdentifier: 'shop.public.users',
    });
    assert.deepEqual(
      t.schemas.key.fields!.map((f) => [f.field, f.type, f.optional]),
      [
        ['id', 'int32', false],
        ['__dbz__physicalTableIdentifier', 'string', false],
      ],
    );
    assert.equal(t.schemas.key.name, 'all.Key');
    assert.equal(t.schemas.envelopeName, 'all.Envelope');
  });
});

// Sample PostgreSQL change events shared by the serde golden tests.
import type {
  ChangeEvent,
  ConnectSchema,
  EventSchemas,
  SourceInfo,
} from '../../../../core/events/index.ts';

export const PG_SOURCE_SCHEMA: ConnectSchema = {
  type: 'struct',
  fields: [
    { type: 'string', optional: false, field: 'version' },
    { type: 'string', optional: false, field: 'connector' },
    { type: 'string', optional: false, field: 'name' },
    { type: 'int64', optional: false, field: 'ts_ms' },
    {
      type: 'string',
      optional: true,
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: {
        allowed:
          'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
      },
      default: 'false',
      field: 'snapshot',
    },
    { type: 'string', optional: false, field: 'db' },
    { type: 'string', optional: true, field: 'sequence' },
    { type: 'int64', optional: true, field: 'ts_us' },
    { type: 'int64', optional: true, field: 'ts_ns' },
    { type: 'string', optional: false, field: 'schema' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'int64', optional: true, field: 'txId' },
    { type: 'int64', optional: true, field: 'lsn' },
    { type: 'int64', optional: true, field: 'xmin' },
  ],
  optional: false,
  name: 'io.debezium.connector.postgresql.Source',
};

export const ORDERS_SCHEMAS: EventSchemas = {
  key: {
    type: 'struct',
    fields: [{ type: 'int32', optional: false, field: 'id' }],
    optional: false,
    name: 'shop.public.orders.Key',
  },
  row: {
    type: 'struct',
    fields: [
      { type: 'int32', optional: false, field: 'id' },
      { type: 'string', optional: true, field: 'customer' },
      { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1, field: 'attrs' },
      { type: 'int64', optional: true, field: 'big' },
      { type: 'bytes', optional: true, field: 'blob' },
      {
        type: 'int64',
        optional: false,
        name: 'io.debezium.time.MicroTimestamp',
        version: 1,
        default: 0,
        field: 'created_at',
      },
    ],
    optional: true,
    name: 'shop.public.orders.Value',
  },
  source: PG_SOURCE_SCHEMA,
  envelopeName: 'shop.public.orders.Envelope',
};

function source(over: Partial<SourceInfo>): SourceInfo {
  return {
    version: '0.1.0',
    connector: 'postgresql',
    name: 'shop',
    ts_ms: 1764100127886,
    snapshot: 'false',
    db: 'shop',
    sequence: '[null,"23043920"]',
    ts_us: 1764100127886692,
    ts_ns: 1764100127886692000n,
    schema: 'public',
    table: 'orders',
    txId: 491,
    lsn: 23043920,
    xmin: null,
    ...over,
  };
}

const row1 = {
  id: 1,
  customer: 'alice',
  attrs: '{"vip": true}',
  big: 9223372036854775807n,
  blob: 'AQID',
  created_at: 1764100127000000,
};

export const INSERT: ChangeEvent = {
  topic: 'shop.public.orders',
  key: { id: 1 },
  value: {
    before: null,
    after: row1,
    source: source({}),
    transaction: null,
    op: 'c',
    ts_ms: 1764100128174,
    ts_us: 1764100128174770,
    ts_ns: 1764100128174770216n,
  },
  version: 23043920n,
  schemas: ORDERS_SCHEMAS,
};

export const UPDATE: ChangeEvent = {
  topic: 'shop.public.orders',
  key: { id: 1 },
  value: {
    before: row1,
    after: { ...row1, customer: 'alice b.' },
    source: source({ txId: 492, lsn: 23044100, sequence: '["23043920","23044100"]' }),
    transaction: { id: '492:23044100', total_order: 1, data_collection_order: 1 },
    op: 'u',
    ts_ms: 1764100129000,
  },
  version: 23044100n,
  schemas: ORDERS_SCHEMAS,
};

export const DELETE: ChangeEvent = {
  topic: 'shop.public.orders',
  key: { id: 1 },
  value: {
    before: { id: 1, customer: null, attrs: null, big: null, blob: null, created_at: 0 },
    after: null,
    source: source({ txId: 493, lsn: 23044300, sequence: '["23044100","23044300"]' }),
    transaction: null,
    op: 'd',
    ts_ms: 1764100130000,
  },
  version: 23044300n,
  schemas: ORDERS_SCHEMAS,
};

export const READ: ChangeEvent = {
  topic: 'shop.public.orders',
  key: { id: 2 },
  value: {
    before: null,
    after: {
      id: 2,
      customer: 'bob',
      attrs: null,
      big: 7,
      blob: null,
      created_at: 1764100000000000,
    },
    source: source({ snapshot: 'true', sequence: '[null,"23040000"]', txId: 480, lsn: 23040000 }),
    transaction: null,
    op: 'r',
    ts_ms: 1764100100000,
  },
  version: 23040000n,
  schemas: ORDERS_SCHEMAS,
};

export const TRUNCATE: ChangeEvent = {
  topic: 'shop.public.orders',
  key: {},
  value: {
    before: null,
    after: null,
    source: source({ txId: 500, lsn: 23050000, sequence: '["23044300","23050000"]' }),
    transaction: null,
    op: 't',
    ts_ms: 1764100140000,
  },
  version: 23050000n,
};

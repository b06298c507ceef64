import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../core/events/index.ts';
import { ConfigError, TributaryError } from '../../../core/errors/index.ts';
import { DLQ_HEADERS } from '../../../processors/runtime/pipeline.ts';
import { parseSinkRuntimeConfig } from '../../../sinks/runtime/config.ts';
import { backoffDelay, isRetryable } from '../../../sinks/runtime/retry.ts';
import { SINK_DLQ_HEADERS } from '../../../sinks/runtime/runtime.ts';
import type { Sink, SinkRecord, WriteResult } from '../../../sinks/runtime/sink.ts';
import {
  RecordRejectedError,
  RetryableSinkError,
  keyIdentity,
  latestPerKey,
} from '../../../sinks/runtime/sink.ts';
import { StoppedError, writeWithPolicy } from '../../../sinks/runtime/writer.ts';

function rec(id: number, version: bigint, op: 'c' | 'u' | 'd' = 'u', offset = 0n): SinkRecord {
  const event: ChangeEvent = {
    topic: 'db.public.t',
    key: { id },
    version,
    value: {
      before: null,
      after: op === 'd' ? null : { id, v: Number(version) },
      source: { version: '1', connector: 'postgresql', name: 'x', ts_ms: 0, db: 'd' },
      transaction: null,
      op,
      ts_ms: 0,
    },
  };
  return { kind: 'change', event, topic: 'db.public.t', partition: 0, offset };
}

/** A store in memory with the version guard, failing as told. */
class FakeSink implements Sink {
  readonly name = 'fake';
  readonly rows = new Map<number, bigint>();
  calls = 0;
  constructor(
    private readonly behave: (records: SinkRecord[], call: number) => WriteResult | void = () =>
      undefined,
  ) {}
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async writeBatch(records: SinkRecord[]): Promise<WriteResult | void> {
    const result = this.behave(records, ++this.calls);
    for (const [i, r] of records.entries()) {
      if (result?.rejected.some((x) => x.index === i)) continue;
      const id = (r.kind === 'change' ? r.event.key.id : r.tombstone.key.id) as number;
      const v = r.kind === 'change' ? r.event.version : r.tombstone.version;
      if ((this.rows.get(id) ?? -1n) < v) this.rows.set(id, v);
    }
    return result;
  }
}

const fast = { backoff: { initialMs: 1, maxMs: 5 } };

describe('sink runtime config', () => {
  it('applies defaults', () => {
    const c = parseSinkRuntimeConfig({
      name: 's',
      topics: ['t'],
      sink: { type: 'redis', url: 'redis://127.0.0.1:6379' },
    });
    assert.deepEqual(c.batch, { maxRecords: 5000, maxBytes: 8 * 1024 * 1024, lingerMs: 100 });
    assert.deepEqual(c.retry, { initialMs: 100, maxMs: 30_000 });
    assert.equal(c.sink.type === 'redis' && c.sink.key, '${table}:${key}');
  });

  it('names the exact path of every problem', () => {
    const bad = (input: unknown, pattern: RegExp) =>
      assert.throws(
        () => parseSinkRuntimeConfig(input),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    bad({ name: 's', topics: ['t'], sink: { type: 'postgres' } }, /sink\.url/);
    bad(
      {
        name: 's',
        topics: ['t'],
        batch: { maxRecord: 5 },
        sink: { type: 'redis', url: 'redis://x' },
      },
      /batch\.maxRecord: unknown key — did you mean "maxRecords"\?/,
    );
    bad(
      { name: 's', topics: ['t'], sink: { type: 'redis', url: 'redis://x', ttlSeconds: 'soon' } },
      /sink\.ttlSeconds: .*expected number/,
    );
    bad({ name: 's', topics: ['t'], sink: { type: 'mongo', url: 'x' } }, /sink\.type/);
    bad({ name: 's', topics: [], sink: { type: 'redis', url: 'redis://x' } }, /topics/);
  });

  // Issue 6, "Bad input": for every sink, a missing URL, an unknown option and a wrong type are
  // refused at load with the exact path (an unknown key with the nearest key of that sink type).
  const sinks: Array<{
    type: string;
    ok: Record<string, unknown>;
    missing: { drop: string; path: RegExp };
    unknown: { key: string; path: RegExp };
    wrongType: { key: string; value: unknown; path: RegExp };
  }> = [
    {
      type: 'postgres',
      ok: { url: 'postgres://u:p@127.0.0.1:5432/db' },
      missing: { drop: 'url', path: /sink\.url: / },
      unknown: { key: 'schem', path: /sink\.schem: unknown key — did you mean "schema"\?/ },
      wrongType: { key: 'parallelism', value: '4', path: /sink\.parallelism: .*expected number/ },
    },
    {
      type: 'redis',
      ok: { url: 'redis://127.0.0.1:6379/0' },
      missing: { drop: 'url', path: /sink\.url: / },
      unknown: {
        key: 'valueFormats',
        path: /sink\.valueFormats: unknown key — did you mean "valueFormat"\?/,
      },
      wrongType: { key: 'ttlSeconds', value: 'soon', path: /sink\.ttlSeconds: .*expected number/ },
    },
    {
      type: 'clickhouse',
      ok: { url: 'http://127.0.0.1:8123' },
      missing: { drop: 'url', path: /sink\.url: / },
      unknown: { key: 'databse', path: /sink\.databse: unknown key — did you mean "database"\?/ },
      wrongType: { key: 'autoCreate', value: 'yes', path: /sink\.autoCreate: .*expected boolean/ },
    },
    {
      type: 'search',
      ok: { url: 'http://127.0.0.1:9200' },
      missing: { drop: 'url', path: /sink\.url: / },
      unknown: { key: 'indx', path: /sink\.indx: unknown key — did you mean "index"\?/ },
      wrongType: {
        key: 'requestTimeoutMs',
        value: '5s',
        path: /sink\.requestTimeoutMs: .*expected number/,
      },
    },
    {
      // Without brokers the target is the source cluster, so the topic names must differ.
      type: 'kafka',
      ok: { brokers: ['127.0.0.1:19092'] },
      missing: { drop: 'brokers', path: /sink\.topic: / },
      unknown: { key: 'renames', path: /sink\.renames: unknown key — did you mean "rename"\?/ },
      wrongType: {
        key: 'brokers',
        value: '127.0.0.1:19092',
        path: /sink\.brokers: .*expected array/,
      },
    },
    {
      type: 's3-parquet',
      ok: { url: 's3://tributary/cdc', endpoint: 'http://127.0.0.1:4569' },
      missing: { drop: 'url', path: /sink\.url: / },
      unknown: {
        key: 'endpoints',
        path: /sink\.endpoints: unknown key — did you mean "endpoint"\?/,
      },
      wrongType: {
        key: 'forcePathStyle',
        value: 'true',
        path: /sink\.forcePathStyle: .*expected boolean/,
      },
    },
  ];
  for (const c of sinks)
    it(`${c.type}: a missing URL, an unknown option and a wrong type name their path`, () => {
      const load = (sink: Record<string, unknown>) =>
        parseSinkRuntimeConfig({ name: 's', topics: ['t'], sink: { type: c.type, ...sink } });
      assert.equal(load(c.ok).sink.type, c.type, 'the valid config loads');
      const refused = (sink: Record<string, unknown>, path: RegExp) =>
        assert.throws(
          () => load(sink),
          (e: unknown) => e instanceof ConfigError && path.test(e.message),
        );
      const without = { ...c.ok };
      delete without[c.missing.drop];
      refused(without, c.missing.path);
      refused({ ...c.ok, [c.unknown.key]: 'x' }, c.unknown.path);
      refused({ ...c.ok, [c.wrongType.key]: c.wrongType.value }, c.wrongType.path);
    });
});

describe('retry policy', () => {
  it('backs off exponentially up to the cap', () => {
    const p = { initialMs: 100, maxMs: 1000 };
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, p, mid)),
      [100, 200, 400, 800, 1000, 1000],
    );
    for (let a = 1; a < 40; a++) assert.ok(backoffDelay(a, p) <= 1000);
  });

  it('treats flagged and socket-level errors as retryable, others not', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(isRetryable(refused), true);
    assert.equal(isRetryable(new Error('wrapped', { cause: refused })), true);
    assert.equal(isRetryable(new RetryableSinkError('down')), true);
    assert.equal(isRetryable(new RecordRejectedError('bad value')), false);
    assert.equal(isRetryable(new Error('syntax error')), false);
  });
});

describe('writeWithPolicy', () => {
  it('retries a batch while the store is down, then writes it once it is back', async () => {
    const sink = new FakeSink((_r, call) => {
      if (call <= 3) throw new RetryableSinkError('store down');
    });
    const retries: number[] = [];
    const out = await writeWithPolicy(sink, [rec(1, 5n), rec(2, 6n)], {
      ...fast,
      onRetry: (_e, attempt) => retries.push(attempt),
    });
    assert.deepEqual(retries, [1, 2, 3]);
    assert.equal(out.retries, 3);
    assert.deepEqual(out.rejected, []);
    assert.deepEqual(
      [...sink.rows],
      [
        [1, 5n],
        [2, 6n],
      ],
    );
  });

  it('bisects a rejected batch down to the poison record and writes the rest', async () => {
    const sink = new FakeSink((records) => {
      if (records.some((r) => r.kind === 'change' && r.event.key.id === 7))
        throw new RecordRejectedError('value out of range');
    });
    const batch = Array.from({ length: 20 }, (_, i) => rec(i, BigInt(100 + i)));
    const out = await writeWithPolicy(sink, batch, fast);
    assert.equal(out.rejected.length, 1);
    assert.equal(out.rejected[0]!.record, batch[7]);
    assert.equal(sink.rows.size, 19);
    assert.equal(sink.rows.has(7), false);
  });

  it('passes per-record rejections through', async () => {
    const sink = new FakeSink(() => ({ rejected: [{ index: 1, error: new Error('too big') }] }));
    const batch = [rec(1, 1n), rec(2, 2n), rec(3, 3n)];
    const out = await writeWithPolicy(sink, batch, fast);
    assert.deepEqual(
      out.rejected.map((r) => r.record),
      [batch[1]],
    );
  });

  it('throws fatal errors and stops retrying when aborted', async () => {
    await assert.rejects(
      writeWithPolicy(
        new FakeSink(() => {
          throw new TributaryError('AUTH', 'password authentication failed');
        }),
        [rec(1, 1n)],
        fast,
      ),
      /password authentication failed/,
    );
    const stop = new AbortController();
    const down = new FakeSink(() => {
      throw new RetryableSinkError('down');
    });
    setTimeout(() => stop.abort(), 30);
    await assert.rejects(
      writeWithPolicy(down, [rec(1, 1n)], {
        backoff: { initialMs: 5, maxMs: 5 },
        signal: stop.signal,
      }),
      StoppedError,
    );
    assert.ok(down.calls >= 2, 'retried until stopped');
  });
});

describe('record helpers', () => {
  it('keeps the newest write per key; a delete and its tombstone delete at one version', () => {
    const tomb: SinkRecord = {
      kind: 'tombstone',
      tombstone: { topic: 'db.public.t', key: { id: 2 }, version: 9n },
      topic: 'db.public.t',
      partition: 0,
      offset: 4n,
    };
    const writes = latestPerKey([
      rec(1, 5n),
      rec(1, 3n),
      rec(2, 4n),
      rec(2, 9n, 'd'),
      tomb,
      rec(1, 6n),
    ]);
    const byId = new Map(writes.map((w) => [w.key.id, w]));
    assert.equal(byId.get(1)!.version, 6n);
    assert.equal(byId.get(2)!.version, 9n);
    assert.equal(byId.get(2)!.row, null);
  });

  it('fills unchanged-TOAST columns of the newest row from the row it supersedes in the batch', () => {
    const older = rec(1, 5n);
    const newer = rec(1, 6n);
    (older as { event: ChangeEvent }).event.value.after = { id: 1, doc: 'long', n: 1 };
    const e = (newer as { event: ChangeEvent }).event;
    e.value.after = { id: 1, doc: '__debezium_unavailable_value', n: 2 };
    e.headers = { 'tributary.unavailable': 'doc' };
    const [w] = latestPerKey([older, newer]);
    assert.deepEqual(w!.row, { id: 1, doc: 'long', n: 2 });
    assert.deepEqual(w!.unavailable, []);
    const [alone] = latestPerKey([newer]);
    assert.deepEqual(alone!.unavailable, ['doc']);
  });

  it('identifies keys independently of column order', () => {
    assert.equal(keyIdentity({ b: 1, a: 'x' }), keyIdentity({ a: 'x', b: 1 }));
    assert.notEqual(keyIdentity({ a: 1 }), keyIdentity({ a: '1' }));
  });

  it("uses the processor runtime's dead-letter header names", () => {
    const shared = Object.entries(SINK_DLQ_HEADERS).filter(([k]) => k !== 'sink');
    const theirs = Object.entries(DLQ_HEADERS).filter(([k]) => k !== 'processor');
    assert.deepEqual(shared, theirs);
    assert.equal(SINK_DLQ_HEADERS.sink, 'tributary.dlq.sink');
  });
});

describe('sink service entry point', () => {
  it('refuses a bad config file at load, naming every bad path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sink-config-'));
    try {
      const file = join(dir, 'sink.yaml');
      writeFileSync(
        file,
        'name: s\ntopics: [t]\nbatch:\n  lingerMS: 5\nsink:\n  type: postgres\n  autoCreate: "yes"\n',
      );
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'sinks/runtime/main.ts', file], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /batch\.lingerMS: unknown key — did you mean "lingerMs"\?/);
      assert.match(r.stderr, /sink\.url: /);
      assert.match(r.stderr, /sink\.autoCreate: .*expected boolean/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

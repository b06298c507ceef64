// The snapshot coordinator's window (DBLog): a chunk row must never follow a newer change of
// its key, and its version must stay below every change that comes after it. On PostgreSQL a
// change's version is the LSN where it was written, so a transaction that writes a key before
// the high watermark and commits after it streams after the high watermark with a LOWER
// version. With a reader that can wait for running transactions, the window stays open until
// a release watermark written once they ended: such a change then drops its key from the
// chunk. The stream is simulated here: the test feeds watermarks and changes to the
// coordinator in the order PostgreSQL would stream them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCoordinator } from '../../../../capture/engine/snapshot.ts';
import type {
  SnapshotChunk,
  SnapshotProgress,
  SnapshotReader,
  WatermarkKind,
} from '../../../../capture/engine/types.ts';
import type { ChangeEvent } from '../../../../core/events/index.ts';

function change(id: number, version: bigint, op: 'r' | 'u' = 'u'): ChangeEvent {
  return {
    topic: 't',
    key: { id },
    value: {
      before: null,
      after: { id },
      source: {},
      op,
      ts_ms: 0,
    },
    version,
  } as unknown as ChangeEvent;
}

const chunk = (): SnapshotChunk => ({
  rows: [1, 2, 3].map((id) => ({
    key: { id },
    build: (ctx) => change(id, ctx.version, 'r'),
  })),
  lastKey: [3],
  last: true,
});

interface Published {
  ids: number[];
  versions: bigint[];
  order: number;
}

/**
 * Runs one chunk. `stream(kind)` is called when the coordinator writes a watermark and returns
 * what the stream carries up to and including it (changes of the table, then the watermark at
 * its position). `running` makes the reader able to wait for running transactions.
 */
async function oneChunk(
  running: boolean,
  stream: Record<WatermarkKind, { changes: ChangeEvent[]; order: number }>,
): Promise<{ published: Published; kinds: WatermarkKind[] }> {
  let coordinator: SnapshotCoordinator | null = null;
  const kinds: WatermarkKind[] = [];
  const reader: SnapshotReader = {
    tables: () => [{ name: 'public.t' }],
    readChunk: async () => chunk(),
    writeWatermark: async (id, kind) => {
      kinds.push(kind);
      // The stream delivers later, asynchronously, as the replication connection would.
      setImmediate(() => {
        for (const c of stream[kind].changes) coordinator!.observeChange('public.t', c);
        coordinator!.watermark(id, kind, stream[kind].order);
      });
    },
    ...(running ? { awaitRunningTransactions: async () => undefined } : {}),
  };
  let published: Published | null = null;
  coordinator = new SnapshotCoordinator(
    reader,
    {
      publishChunk: async (events, order, _progress: SnapshotProgress) => {
        published = {
          ids: events.map((e) => (e.event.key as { id: number }).id),
          versions: events.map((e) => e.event.version),
          order,
        };
      },
      saveProgress: () => undefined,
      log: () => undefined,
    },
    100,
    null,
  );
  const progress = await coordinator.run();
  assert.equal(progress.completed, true);
  assert.ok(published, 'the chunk was published');
  return { published, kinds };
}

// Key 2 is written at position 150 (before the high watermark at 200) by a transaction that
// commits after the high watermark: the stream carries it between the high watermark and the
// release (at 300).
const lateCommit = {
  low: { changes: [], order: 100 },
  high: { changes: [], order: 200 },
  release: { changes: [change(2, 150n)], order: 300 },
};

test('with a release step, a change committed after the high watermark drops its key', async () => {
  const { published, kinds } = await oneChunk(true, lateCommit);
  assert.deepEqual(kinds, ['low', 'high', 'release']);
  assert.deepEqual(published.ids, [1, 3], 'key 2 dropped: the stream carries its newer value');
  assert.deepEqual(published.versions, [200n, 200n], "rows take the high watermark's position");
  assert.equal(published.order, 300, 'published where the chunk was decided: at the release');
});

test('without one (plain DBLog), that change is missed: the row of key 2 is emitted', async () => {
  // What the release step exists for: the change of key 2 (version 150) would then follow the
  // chunk row of key 2 (version 200) in the stream.
  const { published, kinds } = await oneChunk(false, lateCommit);
  assert.deepEqual(kinds, ['low', 'high']);
  assert.deepEqual(published.ids, [1, 2, 3]);
  assert.equal(published.order, 200);
});

test('changes inside the window drop their keys either way', async () => {
  const inWindow = {
    low: { changes: [], order: 100 },
    high: { changes: [change(3, 160n)], order: 200 },
    release: { changes: [], order: 300 },
  };
  for (const running of [true, false]) {
    const { published } = await oneChunk(running, inWindow);
    assert.deepEqual(published.ids, [1, 2], `running=${running}`);
  }
});

// PostgreSQL capture benchmark (not a test). Writes a backlog of changes, then measures in one
// run: (1) how fast pg_recvlogical alone drains that WAL from its own slot (the baseline),
// (2) how fast Tributary drains the same WAL into Kafka, committed (slot confirmed_flush_lsn
// reaches the end), with peak RSS of the capture process. Prints both and the ratio, timed from
// the capture's process start; then, to show where the time went, how much of it was start-up
// (until the stored offset is read) and the rate after it.
//
//   node --import tsx bench/pg-capture/run.ts [--changes 1000000] [--also <checkout>]...
//
// --also <dir>: after this checkout's capture, also run the capture of another checkout (e.g.
// the previous commit, `git worktree add`, with node_modules linked) over the same WAL, each
// with its own slot: an A/B comparison in one run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { defaultKafkaConfig, KafkaAdmin } from '../../core/kafka/index.ts';

const args = process.argv.slice(2);
const total = Number(args[args.indexOf('--changes') + 1] || 1_000_000);
const repos = [new URL('../../', import.meta.url).pathname];
args.forEach((a, i) => {
  if (a === '--also') repos.push(args[i + 1]!.replace(/\/?$/, '/'));
});
const PG = {
  host: '127.0.0.1',
  port: 5432,
  database: 'tributary',
  user: 'tributary',
  password: 'tributary',
};
const run = `bench_${Date.now().toString(36)}`;
const table = `public.${run}`;

const db = new pg.Client(PG);
await db.connect();

// ~250-byte rows.
await db.query(
  `CREATE TABLE ${table} (id bigint PRIMARY KEY, account int NOT NULL, status text NOT NULL, amount numeric(12,2) NOT NULL, note text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
);
await db.query(`CREATE PUBLICATION ${run}_base FOR TABLE ${table}`);
await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [`${run}_base`]);

// Tributary creates its own publication and slot at its first start; start it once briefly so
// both slots exist before the workload, then stop it.
const configFor = (name: string) => ({
  name,
  connection: PG,
  tables: [table],
  snapshot: { mode: 'never' },
  heartbeatIntervalMs: 0,
  topic: { partitions: 3 },
  ...(process.env.BENCH_BATCH
    ? {
        publisher: {
          batchSize: Number(process.env.BENCH_BATCH),
          lingerMs: 20,
          maxBuffered: 4 * Number(process.env.BENCH_BATCH),
        },
      }
    : {}),
});
const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
const captures = repos.map((repo, i) => {
  const name = i === 0 ? run : `${run}_${i}`;
  const configPath = join(dir, `source-${i}.json`);
  writeFileSync(configPath, JSON.stringify(configFor(name)));
  // BENCH_NODE_FLAGS: extra node flags for this checkout's capture only (e.g. a V8 heap setting
  // compared against the same code without it through --also).
  const flags = i === 0 ? (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean) : [];
  return { repo, name, configPath, flags };
});
for (const c of captures)
  await runCapture(c, async (line) => /created replication slot/.test(line), true);

const inserts = Math.round(total / 2);
const updates = Math.round(total / 4);
const deletes = total - inserts - updates;
console.log(`workload: ${inserts} inserts, ${updates} updates, ${deletes} deletes into ${table}`);
const t0 = performance.now();
const note = 'x'.repeat(170);
// Half of each kind in large transactions (50,000 rows), half in OLTP-sized ones (10 rows).
async function insertRange(lo: number, hi: number): Promise<void> {
  await db.query(
    `INSERT INTO ${table} (id, account, status, amount, note) SELECT g, g % 1000, 'NEW', (g % 10000) / 100.0, $3 FROM generate_series($1::bigint, $2::bigint) g`,
    [lo, hi, note],
  );
}
async function inTxns(
  count: number,
  size: number,
  fn: (lo: number, hi: number) => Promise<void>,
  start: number,
): Promise<number> {
  let done = 0;
  while (done < count) {
    const n = Math.min(size, count - done);
    await db.query('BEGIN');
    await fn(start + done, start + done + n - 1);
    await db.query('COMMIT');
    done += n;
  }
  return start + done;
}
let next = await inTxns(inserts / 2, 50_000, insertRange, 1);
const oltpStart = next;
next = await inTxns(inserts - inserts / 2, 10, insertRange, next);
void oltpStart;
await inTxns(
  updates / 2,
  50_000,
  (lo, hi) =>
    db
      .query(
        `UPDATE ${table} SET status = 'PAID', amount = amount + 1, updated_at = now() WHERE id BETWEEN $1 AND $2`,
        [lo, hi],
      )
      .then(() => undefined),
  1,
);
await inTxns(
  updates - updates / 2,
  10,
  (lo, hi) =>
    db
      .query(
        `UPDATE ${table} SET status = 'SHIPPED', updated_at = now() WHERE id BETWEEN $1 AND $2`,
        [lo, hi],
      )
      .then(() => undefined),
  1 + updates / 2,
);
await inTxns(
  deletes / 2,
  50_000,
  (lo, hi) =>
    db.query(`DELETE FROM ${table} WHERE id BETWEEN $1 AND $2`, [lo, hi]).then(() => undefined),
  inserts - deletes + 1,
);
await inTxns(
  deletes - deletes / 2,
  10,
  (lo, hi) =>
    db.query(`DELETE FROM ${table} WHERE id BETWEEN $1 AND $2`, [lo, hi]).then(() => undefined),
  inserts - deletes / 2 + 1,
);
const endLsn = (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))
  .rows[0]!.lsn;
console.log(
  `workload written in ${((performance.now() - t0) / 1000).toFixed(1)} s; WAL end ${endLsn}`,
);

// (1) Baseline: pg_recvlogical drains the same WAL from its own slot to /dev/null.
const bin = spawnSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'])
  .stdout.toString()
  .trim();
const r0 = performance.now();
const others0 = otherCpu();
const recv = spawnSync(
  `${bin}/pg_recvlogical`,
  [
    '-h',
    PG.host,
    '-p',
    String(PG.port),
    '-U',
    PG.user,
    '-d',
    PG.database,
    '--slot',
    `${run}_base`,
    '--start',
    '--no-loop',
    '-E',
    endLsn,
    '-o',
    'proto_version=1',
    '-o',
    `publication_names=${run}_base`,
    '-f',
    '/dev/null',
  ],
  { env: { ...process.env, PGPASSWORD: PG.password }, stdio: ['ignore', 'inherit', 'inherit'] },
);
const baseSecs = (performance.now() - r0) / 1000;
if (recv.status !== 0) throw new Error(`pg_recvlogical exited with ${recv.status}`);
const baseRate = total / baseSecs;
console.log(
  `pg_recvlogical: ${total} changes in ${baseSecs.toFixed(2)} s = ${Math.round(baseRate).toLocaleString('en-US')} changes/s`,
);
console.log(`  ${cpuUse(others0, otherCpu())}`);

// (2) Tributary: from process start until the slot's confirmed_flush_lsn reaches the end
// (it only moves after the Kafka transaction holding the changes committed).
for (const c of captures) {
  const c0 = performance.now();
  let peakRssKb = 0;
  if (captures.length > 1) console.log(`capture of ${c.repo} ${c.flags.join(' ')}`);
  const others = otherCpu();
  const { cpu, offsetReadAt } = await runCapture(
    c,
    async () => {
      const r = await db.query<{ ok: boolean }>(
        `SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`,
        [`tributary_${c.name}`, endLsn],
      );
      return r.rows[0]?.ok === true;
    },
    false,
    (kb) => (peakRssKb = Math.max(peakRssKb, kb)),
    () => console.log(`  ${cpuUse(others, otherCpu())}`),
  );
  const capSecs = (performance.now() - c0) / 1000;
  const capRate = total / capSecs;
  console.log(
    `tributary:      ${total} changes in ${capSecs.toFixed(2)} s = ${Math.round(capRate).toLocaleString('en-US')} changes/s committed in Kafka, peak RSS ${(peakRssKb / 1024).toFixed(0)} MiB` +
      (cpu === null ? '' : `, ${((cpu * 1e6) / total).toFixed(2)} us CPU per change`),
  );
  console.log(`ratio tributary / pg_recvlogical = ${(capRate / baseRate).toFixed(2)}`);
  if (offsetReadAt !== null) {
    // Not the measure of the target (that is from process start, above): where the time went.
    const startSecs = (offsetReadAt - c0) / 1000;
    const streamRate = total / (capSecs - startSecs);
    console.log(
      `  of which start-up (process start → stored offset read) ${startSecs.toFixed(2)} s; after it ${(capSecs - startSecs).toFixed(2)} s = ${Math.round(streamRate).toLocaleString('en-US')} changes/s (${(streamRate / baseRate).toFixed(2)} of pg_recvlogical)`,
    );
  }
}

await db.query(
  `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1::text[])`,
  [[`${run}_base`, ...captures.map((c) => `tributary_${c.name}`)]],
);
await db.query(
  `DROP PUBLICATION IF EXISTS ${[`${run}_base`, ...captures.map((c) => `tributary_${c.name}`)].join(', ')}`,
);
await db.query(`DROP TABLE ${table}`);
await db.end();
// The run's topics hold ~1.4 GB per capture of 1,000,000 changes: deleted, so repeated runs do
// not fill the disk (set BENCH_KEEP_TOPICS=1 to look at them).
if (!process.env.BENCH_KEEP_TOPICS) {
  const admin = new KafkaAdmin(defaultKafkaConfig('bench-pg-capture'));
  const names = captures.map((c) => c.name);
  await admin.deleteTopics(
    (await admin.listTopics()).filter((t) =>
      names.some((n) => t === n || t.startsWith(`${n}.`) || t.startsWith(`${n}_`)),
    ),
  );
  await admin.close();
}

/**
 * Runs a capture until `done`; returns its CPU seconds (user+sys) when measured, and when it
 * logged that it had read its stored offset (streaming starts right after).
 */
async function runCapture(
  capture: { repo: string; configPath: string; flags: string[] },
  done: (line: string) => Promise<boolean>,
  byLine: boolean,
  rss?: (kb: number) => void,
  beforeStop?: () => void,
): Promise<{ cpu: number | null; offsetReadAt: number | null }> {
  let offsetReadAt: number | null = null;
  const prof =
    process.env.BENCH_PROFILE && !byLine
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
      : [];
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...prof,
      ...capture.flags,
      'bin/tributary.js',
      'capture',
      '--config',
      capture.configPath,
      '--progress-interval-ms',
      // BENCH_PROGRESS_MS: progress lines more often (with BENCH_VERBOSE: the rate over the run).
      process.env.BENCH_PROGRESS_MS ?? '5000',
    ],
    { cwd: capture.repo, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let finished = false;
  const lines: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) {
      lines.push(l);
      if (offsetReadAt === null && /no stored offset|resuming after/.test(l))
        offsetReadAt = performance.now();
      if (process.env.BENCH_VERBOSE)
        console.log(`+${Math.round(performance.now() - spawnedAt)} ms ${l}`);
    }
  });
  while (!finished) {
    await new Promise((r) => setTimeout(r, byLine ? 100 : 50));
    if (child.exitCode !== null) throw new Error(`capture exited: ${lines.slice(-5).join('\n')}`);
    if (rss) {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) rss(Number(m[1]));
      } catch {
        // process gone
      }
    }
    finished = byLine ? (await Promise.all(lines.map(done))).some(Boolean) : await done('');
  }
  let cpu: number | null = null;
  if (!byLine) {
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu = (Number(stat[11]) + Number(stat[12])) / 100;
      console.log(
        `capture process CPU: ${cpu.toFixed(2)} s (user ${(Number(stat[11]) / 100).toFixed(2)} + sys ${(Number(stat[12]) / 100).toFixed(2)}); by thread: ${threadCpu(child.pid!)}`,
      );
    } catch {
      // process gone
    }
  }
  beforeStop?.();
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  return { cpu, offsetReadAt };
}

/** CPU seconds of each thread of a process, by thread name (the main thread is the process's
 * own name; the producer is a worker thread). */
function threadCpu(pid: number): string {
  const byName = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(') ') + 2).split(' ');
      const name =
        t === String(pid)
          ? 'main'
          : `${s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'))}${process.env.BENCH_THREAD_IDS ? `#${t}` : ''}`;
      byName.set(name, (byName.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // thread gone
    }
  }
  return [...byName]
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([n, v]) => `${n} ${v.toFixed(2)}`)
    .join(', ');
}

/** CPU seconds so far of the services on the path (not the capture): Kafka, PostgreSQL (its
 * exited backends included, through the postmaster's children times), and pg_recvlogical (a
 * child of this process). Read at the start and end of a phase to see where the cores went. */
function otherCpu(): { kafka: number; postgres: number; recv: number } {
  const ticks = (pid: string, children: boolean): number => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    } catch {
      return 0;
    }
  };
  let kafka = 0;
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('kafka.Kafka')) kafka += ticks(pid, false);
    else if (/\/bin\/postgres\0/.test(cmd)) postgres += ticks(pid, true);
    else if (cmd.startsWith('postgres: ')) postgres += ticks(pid, false);
  }
  return {
    kafka: kafka / 100,
    postgres: postgres / 100,
    recv: ticks('self', true) / 100 - ticks('self', false) / 100,
  };
}
function cpuUse(a: ReturnType<typeof otherCpu>, b: ReturnType<typeof otherCpu>): string {
  const d = (k: keyof typeof a) => (b[k] - a[k]).toFixed(2);
  return `CPU in this phase: Kafka broker ${d('kafka')} s, PostgreSQL ${d('postgres')} s, pg_recvlogical ${d('recv')} s`;
}

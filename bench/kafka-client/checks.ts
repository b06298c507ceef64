// Transaction correctness checks for kafkajs and @platformatic/kafka against the local broker.
//
//   node --import tsx bench/kafka-client/checks.ts [--clients kafkajs,platformatic[=<package dir>]] [--keep]
//
// Prints PASS/FAIL per check per client. The same scenarios run against both clients through
// check-adapters.ts; group offsets and topics are inspected with a neutral kafkajs admin client.
import { parseArgs } from 'node:util';
import type { MessageToProduce } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { kafkajsAdapter, platformaticAdapter, type ClientAdapter } from './check-adapters.ts';
import {
  BROKER,
  errorSummary,
  loadPlatformatic,
  parseVariant,
  type PlatformaticModule,
} from './common.ts';

const { Kafka, logLevel } = kafkajs;

interface Outcome {
  pass: boolean;
  detail: string;
}

interface StepResult {
  ok: boolean;
  text: string;
}

/** Runs `fn`, never throws: reports success or the error summary, or a timeout. */
async function step(fn: () => Promise<unknown>, timeoutMs = 20_000): Promise<StepResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StepResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, text: `no result within ${timeoutMs / 1000}s` }),
      timeoutMs,
    );
  });
  const run = fn().then(
    (): StepResult => ({ ok: true, text: 'succeeded' }),
    (error: unknown): StepResult => ({ ok: false, text: errorSummary(error) }),
  );
  const result = await Promise.race([run, timeout]);
  clearTimeout(timer);
  return result;
}

const slug = (c: ClientAdapter) => c.label.replace(/[^a-zA-Z0-9._-]/g, '-');

const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

class Checks {
  readonly #admin: ReturnType<InstanceType<typeof Kafka>['admin']>;
  readonly #prefix: string;
  readonly topics: string[] = [];

  constructor(admin: ReturnType<InstanceType<typeof Kafka>['admin']>, prefix: string) {
    this.#admin = admin;
    this.#prefix = prefix;
  }

  async topic(c: ClientAdapter, name: string, partitions = 3): Promise<string> {
    const topic = `${this.#prefix}-${slug(c)}-${name}`;
    await this.#admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    });
    this.topics.push(topic);
    return topic;
  }

  txId(c: ClientAdapter, name: string): string {
    return `${this.#prefix}-${slug(c)}-${name}`;
  }

  /** (i) One committed and one aborted transaction: read_committed sees only committed records. */
  async commitAbort(c: ClientAdapter): Promise<Outcome> {
    const topic = await this.topic(c, 'commit-abort');
    const p = await c.producer(this.txId(c, 'commit-abort'));
    try {
      await p.begin();
      await p.send(topic, ['c1', 'c2', 'c3']);
      await p.commit();
      await p.begin();
      await p.send(topic, ['a1', 'a2', 'a3']);
      await p.abort();
      await p.begin();
      await p.send(topic, ['c4']);
      await p.commit();
    } finally {
      await p.close();
    }
    const committed = await c.read(topic, true, 4);
    const uncommitted = await c.read(topic, false, 7);
    const pass =
      sameSet(committed, ['c1', 'c2', 'c3', 'c4']) &&
      sameSet(uncommitted, ['c1', 'c2', 'c3', 'a1', 'a2', 'a3', 'c4']);
    return {
      pass,
      detail: `read_committed saw [${committed.sort().join(',')}]; read_uncommitted saw ${uncommitted.length} records incl. aborted a1-a3: ${uncommitted.includes('a1')}`,
    };
  }

  /**
   * (ii) Fencing: a second producer with the same transactional.id initialises while the first has
   * an open transaction. The first must fail on its next send/commit; its open transaction is aborted.
   */
  async fencing(c: ClientAdapter, initAsNewProducer = false): Promise<Outcome> {
    const name = initAsNewProducer ? 'fencing-pid-1' : 'fencing';
    const topic = await this.topic(c, name);
    const id = this.txId(c, name);
    const p1 = await c.producer(id, { initAsNewProducer });
    const p2 = await c.producer(id, { initAsNewProducer });
    try {
      await p1.begin();
      await p1.send(topic, ['p1-before'], 0);
      const init2 = await step(() => p2.begin()); // InitProducerId, same transactional.id: fences p1
      if (!init2.ok)
        return { pass: false, detail: `second producer could not initialise: ${init2.text}` };
      const sendSame = await step(() => p1.send(topic, ['p1-after-same-partition'], 0));
      const sendNew = await step(() => p1.send(topic, ['p1-after-new-partition'], 1));
      const commit = await step(() => p1.commit());
      await p2.send(topic, ['p2'], 0);
      await p2.commit();
      const committed = await c.read(topic, true, 1);
      const fenced = (r: StepResult) =>
        !r.ok && /INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|fenced/i.test(r.text);
      const pass =
        !commit.ok &&
        (fenced(sendSame) || fenced(sendNew) || fenced(commit)) &&
        sameSet(committed, ['p2']);
      return {
        pass,
        detail:
          `p1 send (partition already in txn): ${sendSame.text}\n      p1 send (new partition): ${sendNew.text}` +
          `\n      p1 commit: ${commit.text}\n      read_committed after p2 commit: [${committed.join(',')}]`,
      };
    } finally {
      await p1.close().catch(() => undefined);
      await p2.close().catch(() => undefined);
    }
  }

  /**
   * (ii) Restart: after a producer closed cleanly, a new instance with the same transactional.id
   * (what a restarted worker does) initialises and commits.
   */
  async restart(c: ClientAdapter, initAsNewProducer = false): Promise<Outcome> {
    const name = initAsNewProducer ? 'restart-pid-1' : 'restart';
    const topic = await this.topic(c, name);
    const id = this.txId(c, name);
    const first = await c.producer(id, { initAsNewProducer });
    await first.begin();
    await first.send(topic, ['before-restart']);
    await first.commit();
    await first.close();
    const second = await c.producer(id, { initAsNewProducer });
    try {
      const begin = await step(() => second.begin());
      const commit = begin.ok
        ? await step(async () => {
            await second.send(topic, ['after-restart']);
            await second.commit();
          })
        : { ok: false, text: 'skipped' };
      const committed = await c.read(topic, true, 2);
      return {
        pass: begin.ok && commit.ok && sameSet(committed, ['before-restart', 'after-restart']),
        detail: `new instance begin: ${begin.text}; send+commit: ${commit.text}; read_committed saw [${committed.sort().join(',')}]`,
      };
    } finally {
      await second.close().catch(() => undefined);
    }
  }

  /**
   * (iii) read_committed stops at the last stable offset: records of an open transaction, and
   * committed records written after it on the same partition, stay invisible until it commits.
   */
  async readCommitted(c: ClientAdapter): Promise<Outcome> {
    const topic = await this.topic(c, 'read-committed', 1);
    const open = await c.producer(this.txId(c, 'rc-open'));
    const other = await c.producer(this.txId(c, 'rc-other'));
    try {
      await open.begin();
      await open.send(topic, ['open1', 'open2'], 0);
      await other.begin();
      await other.send(topic, ['after'], 0);
      await other.commit();
      const whileOpen = await c.read(topic, true, 0, 4_000);
      const uncommitted = await c.read(topic, false, 3);
      await open.commit();
      const afterCommit = await c.read(topic, true, 3);
      const pass =
        whileOpen.length === 0 &&
        uncommitted.length === 3 &&
        afterCommit.join(',') === 'open1,open2,after';
      return {
        pass,
        detail: `while txn open: read_committed saw [${whileOpen.join(',')}], read_uncommitted saw [${uncommitted.join(',')}]; after commit read_committed saw [${afterCommit.join(',')}]`,
      };
    } finally {
      await open.close();
      await other.close();
    }
  }

  /**
   * Consumed offsets sent inside a transaction (kafkajs sendOffsets / platformatic addConsumer +
   * addOffset) move the group only if the transaction commits.
   */
  async offsetsInTransaction(c: ClientAdapter): Promise<Outcome> {
    const input = await this.topic(c, 'eos-in');
    const output = await this.topic(c, 'eos-out');
    const groupId = `${this.#prefix}-${slug(c)}-eos-group`;
    const seed = await c.producer(this.txId(c, 'eos-seed'));
    const values = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'];
    try {
      await seed.begin();
      await seed.send(input, values);
      await seed.commit();
    } finally {
      await seed.close();
    }
    const groupOffsets = async () => {
      const [t] = await this.#admin.fetchOffsets({ groupId, topics: [input] });
      return (t?.partitions ?? [])
        .map((p) => `${p.partition}:${p.offset}`)
        .sort()
        .join(' ');
    };
    const ends = (await this.#admin.fetchTopicOffsets(input))
      .map((p) => `${p.partition}:${BigInt(p.high) - 1n}`) // last record + 1 (the log ends with a COMMIT marker)
      .sort()
      .join(' ');
    // Distinct transactional ids: this check is about offsets, (ii) covers re-initialisation.
    const aborted = await step(
      () =>
        c.consumeProduceOnce(input, output, groupId, this.txId(c, 'eos-1'), values.length, 'abort'),
      60_000,
    );
    const afterAbort = await groupOffsets();
    const outAfterAbort = await c.read(output, true, 0, 3_000);
    const committed = await step(
      () =>
        c.consumeProduceOnce(
          input,
          output,
          groupId,
          this.txId(c, 'eos-2'),
          values.length,
          'commit',
        ),
      60_000,
    );
    const afterCommit = await groupOffsets();
    const outAfterCommit = await c.read(output, true, values.length);
    const pass =
      aborted.ok &&
      committed.ok &&
      afterAbort.split(' ').every((p) => p.endsWith(':-1')) &&
      outAfterAbort.length === 0 &&
      afterCommit === ends &&
      sameSet(
        outAfterCommit,
        values.map((v) => v.toUpperCase()),
      );
    return {
      pass,
      detail:
        `abort run: ${aborted.text}; group offsets after abort: ${afterAbort}; output (read_committed): ${outAfterAbort.length} records` +
        `\n      commit run: ${committed.text}; group offsets after commit: ${afterCommit} (expected ${ends}); output: [${outAfterCommit.sort().join(',')}]`,
    };
  }

  /** Three sends issued concurrently inside one transaction, one per partition. */
  async concurrentSends(c: ClientAdapter): Promise<Outcome> {
    const topic = await this.topic(c, 'concurrent');
    const p = await c.producer(this.txId(c, 'concurrent'));
    try {
      await p.begin();
      const sends = await step(() =>
        Promise.all([p.send(topic, ['x0'], 0), p.send(topic, ['x1'], 1), p.send(topic, ['x2'], 2)]),
      );
      const commit = sends.ok ? await step(() => p.commit()) : await step(() => p.abort());
      const committed = await c.read(topic, true, 3);
      return {
        pass: sends.ok && commit.ok && sameSet(committed, ['x0', 'x1', 'x2']),
        detail: `sends: ${sends.text}; ${sends.ok ? 'commit' : 'abort'}: ${commit.text}; read_committed saw [${committed.sort().join(',')}]`,
      };
    } finally {
      await p.close().catch(() => undefined);
    }
  }
}

/** (iv) The versions each client negotiated, next to the broker's supported range. */
function protocolReport(c: ClientAdapter, broker: BrokerApis): Outcome {
  const lines: string[] = [];
  let pass = true;
  for (const [apiKey, { name, versions }] of [...c.versionsUsed].sort(([a], [b]) => a - b)) {
    const range = broker.get(apiKey);
    const used = [...versions].sort((a, b) => a - b);
    const inRange = range !== undefined && used.every((v) => v >= range.min && v <= range.max);
    if (!inRange) pass = false;
    lines.push(
      `${`${name} (${apiKey})`.padEnd(24)} used v${used.join(',v').padEnd(6)} broker v${range?.min ?? '?'}-v${range?.max ?? '?'}${inRange ? '' : '  << outside broker range'}`,
    );
  }
  return { pass, detail: lines.join('\n      ') };
}

type BrokerApis = Map<number, { min: number; max: number }>;

/**
 * Keyed placement: the share of 10,000 keys that @platformatic/kafka's partitioners put on the same
 * partition (of 3) as kafkajs' DefaultPartitioner, which implements the Java client's
 * toPositive(murmur2(key)) % partitions. Disagreeing breaks per-key ordering and co-partitioning
 * with other producers (Java, Kafka Connect/Debezium, kafkajs) writing the same topic.
 */
function partitionerReport(plt: PlatformaticModule): Outcome {
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
  const java = kafkajs.Partitioners.DefaultPartitioner();
  const agree = { defaultPartitioner: 0, compatibilityPartitioner: 0 };
  const total = 10_000;
  for (let i = 0; i < total; i++) {
    const key = Buffer.from(`key-${i}`);
    const expected = java({ topic: 't', partitionMetadata, message: { key, value: null } });
    const message: MessageToProduce = { topic: 't', key };
    if (plt.defaultPartitioner(message, key) % 3 === expected) {
      agree.defaultPartitioner++;
    }
    if (plt.compatibilityPartitioner(message, key) % 3 === expected) {
      agree.compatibilityPartitioner++;
    }
  }
  return {
    pass: agree.defaultPartitioner === total,
    detail:
      `platformatic defaultPartitioner (the default) agrees on ${agree.defaultPartitioner}/${total} keys; ` +
      `compatibilityPartitioner agrees on ${agree.compatibilityPartitioner}/${total}`,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: 'kafkajs,platformatic' },
      keep: { type: 'boolean', default: false },
    },
  });
  const prefix = `checks-${Date.now()}`;
  const kafka = new Kafka({
    clientId: 'checks-admin',
    brokers: [BROKER],
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();

  const installed = await loadPlatformatic();
  const pltAdmin = new installed.Admin({ clientId: 'checks-admin', bootstrapBrokers: [BROKER] });
  const brokerApis: BrokerApis = new Map(
    (await pltAdmin.listApis()).map((a) => [a.apiKey, { min: a.minVersion, max: a.maxVersion }]),
  );
  await pltAdmin.close();

  const adapters: { adapter: ClientAdapter; plt?: PlatformaticModule }[] = [];
  for (const variant of values.clients.split(',').map(parseVariant)) {
    if (variant.client === 'kafkajs') {
      adapters.push({ adapter: kafkajsAdapter(variant.label) });
    } else {
      const plt = await loadPlatformatic(variant.packageDir);
      adapters.push({ adapter: platformaticAdapter(plt, variant.label), plt });
    }
  }
  const checks = new Checks(admin, prefix);
  type Scenario = [label: string, run: (c: ClientAdapter) => Promise<Outcome>, only?: string];
  const pidWorkaround = 'beginTransaction({ producerId: -1n, producerEpoch: -1 })';
  const scenarios: Scenario[] = [
    ['(i) commit + abort, read_committed sees only committed', (c) => checks.commitAbort(c)],
    ['(ii) same transactional.id fences the older producer', (c) => checks.fencing(c)],
    ['(ii) restart: new instance re-initialises the transactional.id', (c) => checks.restart(c)],
    // The two (ii) scenarios again, with InitProducerId sent as a brand-new producer.
    [`(ii) fencing, ${pidWorkaround}`, (c) => checks.fencing(c, true), 'platformatic'],
    [`(ii) restart, ${pidWorkaround}`, (c) => checks.restart(c, true), 'platformatic'],
    ['(iii) read_committed stops at an open transaction (LSO)', (c) => checks.readCommitted(c)],
    ['(iii) consumed offsets commit only with the txn', (c) => checks.offsetsInTransaction(c)],
    ['(extra) concurrent sends inside one transaction', (c) => checks.concurrentSends(c)],
  ];
  let failures = 0;
  const report = (adapter: ClientAdapter, label: string, outcome: Outcome) => {
    if (!outcome.pass) failures++;
    const status = outcome.pass ? 'PASS' : 'FAIL';
    console.log(`${status}  ${adapter.label}  ${label}\n      ${outcome.detail}`);
  };
  for (const { adapter, plt } of adapters) {
    console.log(`\n== ${adapter.label}`);
    for (const [label, run, only] of scenarios) {
      if (only !== undefined && only !== adapter.name) continue;
      try {
        report(adapter, label, await run(adapter));
      } catch (error) {
        report(adapter, label, { pass: false, detail: `threw ${errorSummary(error)}` });
      }
    }
    const protocolLabel = '(iv) every API version used is one the Kafka 4.x broker accepts';
    report(adapter, protocolLabel, protocolReport(adapter, brokerApis));
    if (plt !== undefined) {
      const label = '(extra) default keyed partitioning matches kafkajs/Java murmur2';
      report(adapter, label, partitionerReport(plt));
    }
    adapter.stop();
  }
  if (!values.keep && checks.topics.length > 0) await admin.deleteTopics({ topics: checks.topics });
  await admin.disconnect();
  console.log(`\n${failures === 0 ? 'all checks passed' : `${failures} check(s) failed`}`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(errorSummary(error));
  if (error instanceof Error && error.stack) console.error(error.stack);
  process.exit(1);
});

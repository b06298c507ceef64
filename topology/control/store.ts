/**
 * ControlStore: the control plane's state, kept in two compacted Kafka topics (see records.ts)
 * and materialised in memory by tailing them, so any worker can answer for all.
 *
 * Writes of configs, target states, restart requests and tokens are serialised across every
 * worker by Kafka's transactional fencing, not by a home-made lock: each write registers the
 * shared transactional.id (which fences any other writer mid-write and settles its open
 * transaction), reads the configs topic to its end, checks its precondition (name free,
 * If-Match version) against that state, writes and commits. A writer fenced in between retries
 * from the start. So only accepted writes ever reach the log, and replaying it (or its
 * compacted form) gives every reader the same state.
 * Status and worker heartbeats are written by their single owner with a plain producer.
 *
 * Lifecycle: start() once (returns at once; the tail runs in the background and retries while
 * Kafka is unreachable), then any methods concurrently, close() once. Reads are served from
 * memory; call sync() first for a read that must reflect every write committed so far.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { KafkaError, TributaryError } from '../../core/errors/index.ts';
import {
  KafkaAdmin,
  KafkaPartitionConsumer,
  KafkaProducer,
  TransactionalProducer,
} from '../../core/kafka/index.ts';
import type { KafkaConfig, TopicPartitionOffset } from '../../core/kafka/index.ts';
import { encodeRecord, parseRecord, recordKey } from './records.ts';
import type {
  ConfigKind,
  ConfigRecord,
  ControlRecord,
  RestartRecord,
  Role,
  TargetRecord,
  TargetState,
  TaskStatusRecord,
  TokenRecord,
  WorkerRecord,
} from './records.ts';

export const DEFAULT_CONFIGS_TOPIC = 'tributary.control.configs';
export const DEFAULT_STATUS_TOPIC = 'tributary.control.status';
/** Partitions of the coordination topic = the most tasks a cluster runs (see topology/worker). */
export const DEFAULT_TASK_SLOTS = 32;

export interface ControlStoreOptions {
  kafka: KafkaConfig;
  configsTopic?: string;
  statusTopic?: string;
  /** How many task slots (coordination-topic partitions) exist; slots are allocated below it. */
  taskSlots?: number;
  log?: (message: string) => void;
}

/** A precondition failed: the name exists, does not exist, or the version moved (REST 409/404). */
export class ControlConflictError extends TributaryError {
  constructor(
    message: string,
    readonly reason: 'exists' | 'missing' | 'version' | 'no-slot',
  ) {
    super('CONTROL_CONFLICT', message, { retryable: false, details: { reason } });
  }
}

export interface PutConfigOptions {
  /** 'absent': create only; a number: update only that version (If-Match); undefined: upsert. */
  expect?: 'absent' | 'present' | number;
  /** Task ids of the config (default ['0']); each gets a coordination slot. */
  tasks?: string[];
}

export interface PutResult {
  record: ConfigRecord;
  created: boolean;
}

type ChangeListener = (record: ControlRecord | { type: 'deleted'; key: string }) => void;

const viewKey = (kind: ConfigKind, name: string) => `${kind}/${name}`;

export class ControlStore {
  readonly configsTopic: string;
  readonly statusTopic: string;
  readonly taskSlots: number;
  private readonly consumer: KafkaPartitionConsumer;
  private statusProducer: KafkaProducer | undefined;
  private positions: TopicPartitionOffset[] | undefined;
  private readonly configs = new Map<string, ConfigRecord>();
  private readonly targets = new Map<string, TargetRecord>();
  private readonly restarts = new Map<string, RestartRecord>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly statuses = new Map<string, TaskStatusRecord>();
  private readonly workers = new Map<string, WorkerRecord>();
  private readonly listeners: ChangeListener[] = [];
  private writeChain: Promise<unknown> = Promise.resolve();
  private statusChain: Promise<unknown> = Promise.resolve();
  /** Encoded records this store committed and has not read back yet. */
  private readonly unseenWrites = new Set<string>();
  private tailError: unknown;
  private closed = false;
  private tail: Promise<void> | undefined;
  private readonly log: (m: string) => void;
  /** Records the tail could not parse (a newer format); counted, never fatal. */
  unreadable = 0;

  constructor(private readonly options: ControlStoreOptions) {
    this.configsTopic = options.configsTopic ?? DEFAULT_CONFIGS_TOPIC;
    this.statusTopic = options.statusTopic ?? DEFAULT_STATUS_TOPIC;
    this.taskSlots = options.taskSlots ?? DEFAULT_TASK_SLOTS;
    this.log = options.log ?? (() => undefined);
    this.consumer = new KafkaPartitionConsumer(
      { ...options.kafka, clientId: `${options.kafka.clientId}-control` },
      { isolation: 'read_committed' },
    );
  }

  /** Starts tailing both topics in the background (creating them when missing). */
  start(): void {
    if (this.tail) return;
    this.tail = this.tailLoop();
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * Waits until the in-memory view holds every record committed before this call. Throws a
   * retryable KafkaError when Kafka cannot be reached within `timeoutMs` (REST answers 503).
   */
  async sync(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const unreachable = (why: string) =>
      new KafkaError(`control topics are not readable: ${why}`, { retryable: true });
    while (!this.positions) {
      if (this.closed) throw unreachable('the store is closed');
      if (Date.now() > deadline) throw unreachable(describe(this.tailError) ?? 'timed out');
      await sleep(50);
    }
    let ends: Map<string, bigint>;
    try {
      ends = await withTimeout(
        this.consumer.offsets(this.positions, 'latest'),
        Math.max(1, deadline - Date.now()),
      );
    } catch (err) {
      throw unreachable(describe(err) ?? 'timed out');
    }
    const caughtUp = () =>
      this.positions!.every((p) => p.offset >= (ends.get(`${p.topic}\u0000${p.partition}`) ?? 0n));
    while (!caughtUp()) {
      if (Date.now() > deadline) throw unreachable(describe(this.tailError) ?? 'timed out');
      await sleep(20);
    }
  }

  // ---- reads (from memory) ----

  getConfig(kind: ConfigKind, name: string): ConfigRecord | undefined {
    const c = this.configs.get(viewKey(kind, name));
    return c && !c.deleted ? c : undefined;
  }

  listConfigs(kind?: ConfigKind): ConfigRecord[] {
    return [...this.configs.values()]
      .filter((c) => !c.deleted && (kind === undefined || c.kind === kind))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  targetState(kind: ConfigKind, name: string): TargetState {
    return this.targets.get(viewKey(kind, name))?.state ?? 'RUNNING';
  }

  restartRequest(kind: ConfigKind, name: string): RestartRecord | undefined {
    return this.restarts.get(viewKey(kind, name));
  }

  taskStatuses(kind: ConfigKind, name: string): TaskStatusRecord[] {
    const prefix = `${kind}/${name}/`;
    return [...this.statuses.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, s]) => s)
      .sort((a, b) => a.task.localeCompare(b.task, 'en', { numeric: true }));
  }

  listWorkers(): WorkerRecord[] {
    return [...this.workers.values()].sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  worker(id: string): WorkerRecord | undefined {
    return this.workers.get(id);
  }

  listTokens(): TokenRecord[] {
    return [...this.tokens.values()].sort((a, b) => a.ts_ms - b.ts_ms);
  }

  /** The role of a presented bearer token, or undefined when unknown, revoked or wrong. */
  verifyToken(presented: string): Role | undefined {
    const m = /^trb_([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$/.exec(presented);
    if (!m) return undefined;
    const t = this.tokens.get(m[1]!);
    if (!t || t.revoked) return undefined;
    const expected = Buffer.from(t.hash, 'hex');
    const actual = tokenHash(t.salt, m[2]!);
    return expected.length === actual.length && timingSafeEqual(expected, actual)
      ? t.role
      : undefined;
  }

  // ---- writes (serialised through the shared transactional id) ----

  /** Creates or updates a config; enforces `expect` against the log's latest state. */
  async putConfig(
    kind: ConfigKind,
    name: string,
    config: Record<string, unknown>,
    opts: PutConfigOptions = {},
  ): Promise<PutResult> {
    let result!: PutResult;
    await this.transactionalWrite(() => {
      const prev = this.configs.get(viewKey(kind, name));
      const live = prev && !prev.deleted ? prev : undefined;
      if (opts.expect === 'absent' && live)
        throw new ControlConflictError(`${kind} "${name}" already exists`, 'exists');
      if (opts.expect === 'present' && !live)
        throw new ControlConflictError(`${kind} "${name}" not found`, 'missing');
      if (typeof opts.expect === 'number') {
        if (!live) throw new ControlConflictError(`${kind} "${name}" not found`, 'missing');
        if (live.version !== opts.expect)
          throw new ControlConflictError(
            `${kind} "${name}" is at version ${live.version}, not ${opts.expect} (If-Match); read it again and retry`,
            'version',
          );
      }
      const tasks = opts.tasks ?? ['0'];
      if (live && sameConfig(live, config, tasks)) {
        // Unchanged: no new version, so the workers do not restart anything (idempotent deploy).
        result = { record: live, created: false };
        return [];
      }
      const record: ConfigRecord = {
        v: 1,
        type: 'config',
        kind,
        name,
        version: (prev?.version ?? 0) + 1,
        config,
        slots: this.allocateSlots(live, tasks),
        deleted: false,
        ts_ms: Date.now(),
      };
      result = { record, created: !live };
      // A re-created name starts RUNNING, whatever the deleted one's target state was.
      if (live) return [record];
      return [record, { v: 1, type: 'target', kind, name, state: 'RUNNING', ts_ms: record.ts_ms }];
    });
    return result;
  }

  /** Deletes a config (a `deleted` marker keeps the version sequence going). */
  async deleteConfig(kind: ConfigKind, name: string): Promise<void> {
    await this.transactionalWrite(() => {
      const prev = this.configs.get(viewKey(kind, name));
      if (!prev || prev.deleted)
        throw new ControlConflictError(`${kind} "${name}" not found`, 'missing');
      return [{ ...prev, version: prev.version + 1, deleted: true, slots: {}, ts_ms: Date.now() }];
    });
  }

  async setTargetState(kind: ConfigKind, name: string, state: TargetState): Promise<void> {
    await this.transactionalWrite(() => {
      this.requireLive(kind, name);
      return [{ v: 1, type: 'target', kind, name, state, ts_ms: Date.now() }];
    });
  }

  async requestRestart(
    kind: ConfigKind,
    name: string,
    opts: { onlyFailed?: boolean; includeTasks?: boolean } = {},
  ): Promise<RestartRecord> {
    let record!: RestartRecord;
    await this.transactionalWrite(() => {
      this.requireLive(kind, name);
      record = {
        v: 1,
        type: 'restart',
        kind,
        name,
        requestId: (this.restarts.get(viewKey(kind, name))?.requestId ?? 0) + 1,
        onlyFailed: opts.onlyFailed ?? false,
        includeTasks: opts.includeTasks ?? false,
        ts_ms: Date.now(),
      };
      return [record];
    });
    return record;
  }

  /** Creates an API token; returns the secret token text, shown once and never stored. */
  async createToken(role: Role, label: string): Promise<{ id: string; token: string }> {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16).toString('hex');
    const record: TokenRecord = {
      v: 1,
      type: 'token',
      id,
      label,
      role,
      salt,
      hash: tokenHash(salt, secret).toString('hex'),
      revoked: false,
      ts_ms: Date.now(),
    };
    await this.transactionalWrite(() => [record]);
    return { id, token: `trb_${id}.${secret}` };
  }

  async revokeToken(id: string): Promise<void> {
    await this.transactionalWrite(() => {
      const t = this.tokens.get(id);
      if (!t) throw new ControlConflictError(`token "${id}" not found`, 'missing');
      return [{ ...t, revoked: true, ts_ms: Date.now() }];
    });
  }

  // ---- status (single writer per key) ----

  async putStatus(records: Array<TaskStatusRecord | WorkerRecord>): Promise<void> {
    if (records.length === 0) return;
    // One send at a time: the client's idempotent producer was seen to fail with
    // OUT_OF_ORDER_SEQUENCE_NUMBER under concurrent sends, and to stay failed afterwards.
    const run = async () => {
      this.statusProducer ??= new KafkaProducer({
        ...this.options.kafka,
        clientId: `${this.options.kafka.clientId}-status`,
      });
      try {
        await this.statusProducer.send(
          records.map((r) => ({
            topic: this.statusTopic,
            key: Buffer.from(recordKey(r)),
            value: encodeRecord(r),
          })),
        );
      } catch (err) {
        const broken = this.statusProducer;
        this.statusProducer = undefined; // the next write starts a fresh producer
        await broken.close().catch(() => undefined);
        throw err;
      }
    };
    const p = this.statusChain.then(run, run);
    this.statusChain = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writeChain.catch(() => undefined);
    await this.statusChain.catch(() => undefined);
    await this.tail?.catch(() => undefined);
    await this.statusProducer?.close().catch(() => undefined);
    await this.consumer.close();
  }

  // ---- internals ----

  private requireLive(kind: ConfigKind, name: string): ConfigRecord {
    const c = this.getConfig(kind, name);
    if (!c) throw new ControlConflictError(`${kind} "${name}" not found`, 'missing');
    return c;
  }

  /** Keeps existing slots of `live`; gives each new task id the lowest free slot. */
  private allocateSlots(live: ConfigRecord | undefined, tasks: string[]): Record<string, number> {
    const used = new Set<number>();
    for (const c of this.configs.values())
      if (!c.deleted && c !== live) for (const s of Object.values(c.slots)) used.add(s);
    const out: Record<string, number> = {};
    for (const t of tasks) {
      const kept = live?.slots[t];
      if (kept !== undefined && kept < this.taskSlots) {
        out[t] = kept;
        used.add(kept);
      }
    }
    for (const t of tasks) {
      if (out[t] !== undefined) continue;
      let s = 0;
      while (used.has(s)) s++;
      if (s >= this.taskSlots)
        throw new ControlConflictError(
          `no free task slot: all ${this.taskSlots} coordination partitions are in use; delete a connector or start the workers with a larger --task-slots`,
          'no-slot',
        );
      out[t] = s;
      used.add(s);
    }
    return out;
  }

  /**
   * Runs `build` against the latest state under the shared transactional id and commits what
   * it returns; retries (up to 5 times) when another writer fenced this one in between.
   */
  private transactionalWrite(build: () => ControlRecord[]): Promise<void> {
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        const producer = new TransactionalProducer(
          { ...this.options.kafka, clientId: `${this.options.kafka.clientId}-control-writer` },
          `tributary.control.writer.${this.configsTopic}`,
        );
        try {
          await producer.init(); // fences any other writer and settles its transaction
          await this.sync();
          const built = build();
          if (built.length === 0) return;
          const records = built.map((r) => ({
            topic: this.configsTopic,
            key: Buffer.from(recordKey(r)),
            value: encodeRecord(r),
            partition: 0,
          }));
          const txn = await producer.begin();
          await txn.send(records);
          const encoded = records.map((r) => r.value.toString());
          for (const e of encoded) this.unseenWrites.add(e);
          try {
            await txn.commit();
            // The commit markers land shortly after commit() returns: wait to read our own
            // records back so that the next read here reflects this write.
            const deadline = Date.now() + 10_000;
            while (encoded.some((e) => this.unseenWrites.has(e))) {
              if (Date.now() > deadline)
                throw new KafkaError('control write committed but not read back within 10 s', {
                  retryable: true,
                });
              await sleep(5);
            }
          } finally {
            for (const e of encoded) this.unseenWrites.delete(e);
          }
          return;
        } catch (err) {
          const fenced = err instanceof TributaryError && err.code === 'PRODUCER_FENCED';
          if (!fenced || attempt >= 5) throw err;
          await sleep(20 * attempt + Math.random() * 50);
        } finally {
          await producer.close();
        }
      }
    };
    const p = this.writeChain.then(run, run);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  private async tailLoop(): Promise<void> {
    let backoff = 100;
    while (!this.closed) {
      try {
        if (!this.positions) {
          const admin = new KafkaAdmin({ ...this.options.kafka, clientId: 'tributary-control' });
          try {
            await admin.ensureTopics(
              [this.configsTopic, this.statusTopic].map((name) => ({
                name,
                partitions: 1,
                configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
              })),
            );
          } finally {
            await admin.close().catch(() => undefined);
          }
          const partitions = [
            { topic: this.configsTopic, partition: 0 },
            { topic: this.statusTopic, partition: 0 },
          ];
          const earliest = await this.consumer.offsets(partitions, 'earliest');
          this.positions = partitions.map((p) => ({
            ...p,
            offset: earliest.get(`${p.topic}\u0000${p.partition}`) ?? 0n,
          }));
        }
        const fetched = await this.consumer.fetch(this.positions, 300);
        for (const f of fetched) {
          const pos = this.positions.find(
            (p) => p.topic === f.topic && p.partition === f.partition,
          );
          for (const r of f.records) this.apply(r.key?.toString() ?? '', r.value);
          if (pos && f.nextOffset > pos.offset) pos.offset = f.nextOffset;
        }
        this.tailError = undefined;
        backoff = 100;
      } catch (err) {
        if (this.closed) return;
        if (this.tailError === undefined)
          this.log(`control topics unreadable, retrying: ${describe(err)}`);
        this.tailError = err;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  private apply(key: string, value: Buffer | null): void {
    if (value === null) {
      const [type, ...rest] = key.split('/');
      const k = rest.join('/');
      if (type === 'config') this.configs.delete(k);
      else if (type === 'target') this.targets.delete(k);
      else if (type === 'restart') this.restarts.delete(k);
      else if (type === 'token') this.tokens.delete(k);
      else if (type === 'status') this.statuses.delete(k);
      else if (type === 'worker') this.workers.delete(k);
      for (const l of this.listeners) l({ type: 'deleted', key });
      return;
    }
    let r: ControlRecord;
    const text = value.toString();
    this.unseenWrites.delete(text);
    try {
      r = parseRecord(text, key);
    } catch (err) {
      this.unreadable++;
      this.log(`skipping control record "${key}": ${describe(err)}`);
      return;
    }
    switch (r.type) {
      case 'config':
        this.configs.set(viewKey(r.kind, r.name), r);
        break;
      case 'target':
        this.targets.set(viewKey(r.kind, r.name), r);
        break;
      case 'restart':
        this.restarts.set(viewKey(r.kind, r.name), r);
        break;
      case 'token':
        this.tokens.set(r.id, r);
        break;
      case 'status':
        this.statuses.set(`${r.kind}/${r.name}/${r.task}`, r);
        break;
      case 'worker':
        this.workers.set(r.workerId, r);
        break;
    }
    for (const l of this.listeners) {
      try {
        l(r);
      } catch (err) {
        this.log(`control change listener failed: ${describe(err)}`);
      }
    }
  }
}

function sameConfig(c: ConfigRecord, config: Record<string, unknown>, tasks: string[]): boolean {
  const keys = Object.keys(c.slots);
  return (
    keys.length === tasks.length &&
    tasks.every((t) => c.slots[t] !== undefined) &&
    stableJson(c.config) === stableJson(config)
  );
}

/** JSON with object keys sorted, so equal configs compare equal whatever their key order. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

export function tokenHash(salt: string, secret: string): Buffer {
  return createHash('sha256').update(Buffer.from(salt, 'hex')).update(secret).digest();
}

function describe(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// The shared command-line entry of a long-running service (processor, sink): build it from the
// config file named on the command line, start it, stop cleanly on SIGTERM/SIGINT, print
// "<kind> ready" once it runs and a metrics line every 5 s on stderr, and exit 0 when it
// stops cleanly or 1 when it fails (2 for a missing argument).

export interface RunnableService {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly ready: Promise<void>;
  readonly done: Promise<void>;
  metrics(): unknown;
}

export async function runServiceMain(
  kind: string,
  usage: string,
  create: (configFile: string) => RunnableService,
): Promise<never> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  let service: RunnableService;
  try {
    service = create(file);
    await service.start();
  } catch (err) {
    process.stderr.write(`${kind} failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void service.stop());
  void service.ready.then(() => process.stderr.write(`${kind} ready\n`));
  const timer = setInterval(
    () => process.stderr.write(`metrics ${JSON.stringify(service.metrics())}\n`),
    5000,
  );
  try {
    await service.done;
    clearInterval(timer);
    process.exit(0);
  } catch (err) {
    clearInterval(timer);
    process.stderr.write(`${kind} failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

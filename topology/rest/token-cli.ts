// `tributary token create|list|revoke`: manages the REST API's bearer tokens in the control
// topic. Only a hash of each token is stored; `create` prints the token once. Whoever can
// write the control topic can create tokens: that is the bootstrap (the first admin token).
import { ConfigError } from '../../core/errors/index.ts';
import { defaultKafkaConfig } from '../../core/kafka/index.ts';
import { parseOptions } from '../cli/args.ts';
import { ControlStore } from '../control/index.ts';
import type { Role } from '../control/index.ts';

export const TOKEN_USAGE =
  'tributary token create --role viewer|operator|admin [--label TEXT] | token list | token revoke --id ID   [--brokers host:port,...] [--configs-topic T]';

export async function runToken(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'create' && action !== 'list' && action !== 'revoke')
    throw new ConfigError('token', `expected create, list or revoke; usage: ${TOKEN_USAGE}`);
  const o = parseOptions(rest, {
    role: 'string',
    label: 'string',
    id: 'string',
    brokers: 'string',
    'configs-topic': 'string',
  });
  const kafka = defaultKafkaConfig('tributary-token');
  if (o.brokers)
    kafka.brokers = String(o.brokers)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  const store = new ControlStore({
    kafka,
    ...(o['configs-topic'] ? { configsTopic: String(o['configs-topic']) } : {}),
  });
  store.start();
  try {
    await store.sync(15_000);
    if (action === 'create') {
      const role = String(o.role ?? '');
      if (role !== 'viewer' && role !== 'operator' && role !== 'admin')
        throw new ConfigError('--role', 'required: viewer, operator or admin');
      const { id, token } = await store.createToken(role as Role, String(o.label ?? ''));
      process.stderr.write(`created ${role} token ${id}; it is shown once, store it now:\n`);
      console.log(token);
    } else if (action === 'list') {
      for (const t of store.listTokens())
        console.log(
          `${t.id}  ${t.role.padEnd(8)}  ${t.revoked ? 'revoked' : 'active '}  ${new Date(t.ts_ms).toISOString()}  ${t.label}`,
        );
    } else {
      if (!o.id) throw new ConfigError('--id', 'required: the token id (see token list)');
      await store.revokeToken(String(o.id));
      console.log(`revoked ${String(o.id)}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

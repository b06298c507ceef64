// Exits 0 when the broker at host:port answers a Metadata request listing at least one broker.
// Dependency-free on purpose: infra/up runs it before `npm ci` may have happened.
import net from 'node:net';

const [host, port] = (process.argv[2] ?? '127.0.0.1:9092').split(':');
const clientId = Buffer.from('tributary-infra');
// Request header v1 + Metadata v4 body: topics = null (all), allow_auto_topic_creation = false.
const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4 + 1);
let o = 0;
o = body.writeInt16BE(3, o); // api key: Metadata
o = body.writeInt16BE(4, o); // api version
o = body.writeInt32BE(7, o); // correlation id
o = body.writeInt16BE(clientId.length, o);
o += clientId.copy(body, o);
o = body.writeInt32BE(-1, o);
body.writeInt8(0, o);
const frame = Buffer.concat([Buffer.alloc(4), body]);
frame.writeInt32BE(body.length, 0);

const socket = net.connect({ host, port: Number(port) });
const timer = setTimeout(() => fail('timed out'), 5000);
let buf = Buffer.alloc(0);
socket.on('connect', () => socket.write(frame));
socket.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
  const correlation = buf.readInt32BE(4);
  const brokers = buf.readInt32BE(12); // after throttle_time_ms
  clearTimeout(timer);
  socket.end();
  if (correlation !== 7 || brokers < 1) fail(`unexpected response (brokers=${brokers})`);
  process.exit(0);
});
socket.on('error', (e) => fail(e.message));

function fail(msg) {
  console.error(`metadata request to ${host}:${port} failed: ${msg}`);
  process.exit(1);
}

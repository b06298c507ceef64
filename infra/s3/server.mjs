// Runs s3rver on loopback with the given bucket configured: node server.mjs <port> <dir> <bucket...>
import S3rver from 's3rver';

const [port, directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
await server.run();
console.log(`s3rver listening on 127.0.0.1:${port}, buckets: ${buckets.join(', ')}`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

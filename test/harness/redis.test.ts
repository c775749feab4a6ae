// The Redis harness starts a real redis-server per test file; these tests prove it does, and
// that a persistent server keeps its data across a restart.
import test from 'ava';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

let server: RedisServer;
test.before(async () => { server = await startRedis({ persistent: true }); });
test.after.always(async () => { await server?.close(); });

test('a real redis-server answers on the harness port', async (t) => {
  const client = new Redis(server.url, { lazyConnect: true });
  t.teardown(() => client.disconnect());
  await client.connect();
  const info = await client.info('server');
  t.regex(info, /redis_version:\d+\.\d+/);
  t.regex(info, new RegExp(`tcp_port:${server.port}`));
});

test.serial('with AOF and appendfsync always, data survives a restart', async (t) => {
  const writer = new Redis(server.url);
  await writer.set('grant:test', 'alive', 'EX', 600);
  writer.disconnect();
  await server.restart();
  const reader = new Redis(server.url);
  t.teardown(() => reader.disconnect());
  t.is(await reader.get('grant:test'), 'alive');
  t.true((await reader.ttl('grant:test')) > 0);
});

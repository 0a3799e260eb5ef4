// Smoke tests of the harness's brokers (the bridge on Redis and NATS, issue 19): a real redis-server and
// nats-server on free loopback ports, driven by the raw RESP and NATS text protocols; a kill cuts every
// client, a restart answers on the same port, stop() leaves nothing. The brokers do not depend on the
// PostgreSQL major, so this file runs once per test run.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { before, describe, type TestContext, test } from 'node:test';
import { binaryUnavailable } from '../support/background-server.js';
import { liveCluster } from '../support/cluster.js';
import { NATS_SERVER, type NatsServer, startNats } from '../support/nats.js';
import { NatsClient } from '../support/nats-client.js';
import { REDIS_SERVER, type RedisServer, startRedis } from '../support/redis.js';
import { RespClient, RespError } from '../support/resp-client.js';
import { runsInAnotherSuite } from '../support/run-once.js';
import { waitFor } from '../support/wait.js';

let elsewhere: string | undefined;
before(async () => {
  elsewhere = runsInAnotherSuite(await liveCluster());
});

/** Why this test does not run here, if it does not; throws under CI=true when the broker is missing. */
function skipReason(binary: string, pkg: string): string | undefined {
  return elsewhere ?? binaryUnavailable(binary, pkg);
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** As root, the harness runs servers as its unprivileged user: never as root. */
function assertUnprivileged(pid: number | null) {
  if (process.getuid?.() !== 0) return;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.doesNotMatch(status, /^Uid:\s+0\s/m, `pid ${pid} runs as root`);
}

/** Asserts that stop() removed the server's process and its temp dir. */
async function assertGone(server: { pid: number | null; dir: string; stop(): void }) {
  const { pid, dir } = server;
  assert.ok(pid !== null && existsSync(dir));
  server.stop();
  assert.equal(existsSync(dir), false);
  await waitFor(() => !isRunning(pid), { what: `pid ${pid} to exit` });
}

/** Starts a server for one test and stops it when the test ends, however it ends. */
async function started<T extends { stop(): void }>(t: TestContext, start: Promise<T>): Promise<T> {
  const server = await start;
  t.after(() => server.stop());
  return server;
}

describe('redis-server', { timeout: 60_000 }, () => {
  test('answers PING and delivers PUBLISH to a SUBSCRIBE on a loopback port, persisting nothing', async (t) => {
    const skip = skipReason(REDIS_SERVER, 'redis-server');
    if (skip) return t.skip(skip);
    const booted = Date.now();
    const redis: RedisServer = await started(t, startRedis());
    t.diagnostic(`redis-server answered PING ${Date.now() - booted} ms after spawn`);
    assert.equal(redis.info.host, '127.0.0.1');
    assertUnprivileged(redis.pid);
    assert.equal(redis.info.url, `redis://127.0.0.1:${redis.info.port}`);
    const client = await redis.connect();
    t.after(() => client.close());
    assert.equal(await client.command('PING'), 'PONG');
    assert.deepEqual(await client.command('CONFIG', 'GET', 'save'), ['save', '']);
    assert.deepEqual(await client.command('CONFIG', 'GET', 'appendonly'), ['appendonly', 'no']);
    assert.deepEqual(await client.command('CONFIG', 'GET', 'unixsocket'), ['unixsocket', '']);

    const subscriber = await redis.connect();
    t.after(() => subscriber.close());
    assert.deepEqual(await subscriber.command('SUBSCRIBE', 'nudges'), ['subscribe', 'nudges', 1]);
    assert.equal(await client.command('PUBLISH', 'nudges', 'public.orders'), 1);
    assert.deepEqual(await subscriber.next(), ['message', 'nudges', 'public.orders']);
  });

  test('kill() cuts every client; restart() answers on the same port with no subscription left', async (t) => {
    const skip = skipReason(REDIS_SERVER, 'redis-server');
    if (skip) return t.skip(skip);
    const redis = await started(t, startRedis());
    const subscriber = await redis.connect();
    t.after(() => subscriber.close());
    await subscriber.command('SUBSCRIBE', 'nudges');
    const oldPid = redis.pid;
    await redis.kill();
    await subscriber.closed();
    await assert.rejects(redis.connect(), /ECONNREFUSED/);
    const restarted = Date.now();
    await redis.restart();
    t.diagnostic(`redis-server restarted in ${Date.now() - restarted} ms`);
    assert.notEqual(redis.pid, oldPid);
    const client = await redis.connect();
    t.after(() => client.close());
    assert.equal(await client.command('PUBLISH', 'nudges', 'lost'), 0, 'nobody is subscribed any more');
  });

  test('with a password: NOAUTH until AUTH; stop() removes the process and its directory', async (t) => {
    const skip = skipReason(REDIS_SERVER, 'redis-server');
    if (skip) return t.skip(skip);
    const redis = await started(t, startRedis({ password: 's3cret/with:odd@chars' }));
    assert.equal(redis.info.url, `redis://:s3cret%2Fwith%3Aodd%40chars@127.0.0.1:${redis.info.port}`);
    const anonymous = await RespClient.connect({ host: redis.info.host, port: redis.info.port });
    t.after(() => anonymous.close());
    const refused = await anonymous.command('PING');
    assert.ok(refused instanceof RespError);
    assert.match(refused.message, /^NOAUTH/);
    await assert.rejects(
      RespClient.connect({ host: redis.info.host, port: redis.info.port, password: 'wrong' }),
      /WRONGPASS/,
    );
    const client = await redis.connect();
    assert.equal(await client.command('PING'), 'PONG');
    client.close();
    await assertGone(redis);
  });

  test('with TLS: the port speaks TLS only, verified against its CA for localhost', async (t) => {
    const skip = skipReason(REDIS_SERVER, 'redis-server');
    if (skip) return t.skip(skip);
    const redis = await started(t, startRedis({ tls: true }));
    assert.ok(redis.info.tls);
    assert.equal(redis.info.url, `rediss://127.0.0.1:${redis.info.port}`);
    const client = await redis.connect();
    t.after(() => client.close());
    assert.equal(await client.command('PING'), 'PONG');
    // A plaintext PING gets no PONG: the server reads it as a broken TLS handshake and drops the connection.
    const plain = await RespClient.connect({ host: redis.info.host, port: redis.info.port });
    t.after(() => plain.close());
    await assert.rejects(plain.command('PING'), /ECONNRESET|connection closed/);
  });
});

describe('nats-server', { timeout: 60_000 }, () => {
  test('CONNECT is answered with PONG and a PUB reaches a SUB', async (t) => {
    const skip = skipReason(NATS_SERVER, 'nats-server');
    if (skip) return t.skip(skip);
    const booted = Date.now();
    const nats: NatsServer = await started(t, startNats());
    t.diagnostic(`nats-server accepted CONNECT ${Date.now() - booted} ms after spawn`);
    assert.equal(nats.info.url, `nats://127.0.0.1:${nats.info.port}`);
    assertUnprivileged(nats.pid);
    const subscriber = await nats.connect();
    t.after(() => subscriber.close());
    assert.equal(subscriber.info.auth_required, undefined);
    subscriber.subscribe('pgnudge.nudges', '1');
    await subscriber.ping();
    const publisher = await nats.connect();
    t.after(() => publisher.close());
    publisher.publish('pgnudge.nudges', 'public.orders');
    await publisher.ping();
    const message = await subscriber.nextMessage();
    assert.equal(message.subject, 'pgnudge.nudges');
    assert.equal(message.sid, '1');
    assert.equal(message.payload.toString(), 'public.orders');
  });

  test('kill() cuts every client; restart() accepts CONNECT on the same port with no subscription left', async (t) => {
    const skip = skipReason(NATS_SERVER, 'nats-server');
    if (skip) return t.skip(skip);
    const nats = await started(t, startNats());
    const subscriber = await nats.connect();
    t.after(() => subscriber.close());
    subscriber.subscribe('pgnudge.nudges', '1');
    await subscriber.ping();
    await nats.kill();
    await subscriber.closed();
    await assert.rejects(nats.connect(), /ECONNREFUSED/);
    const restarted = Date.now();
    await nats.restart();
    t.diagnostic(`nats-server restarted in ${Date.now() - restarted} ms`);
    const fresh = await nats.connect();
    t.after(() => fresh.close());
    fresh.subscribe('pgnudge.nudges', '2');
    fresh.publish('pgnudge.nudges', 'after restart');
    await fresh.ping();
    const message = await fresh.nextMessage();
    assert.equal(message.sid, '2', 'only the new subscription exists');
  });

  test('with a user and password: refused without them; stop() removes the process and its directory', async (t) => {
    const skip = skipReason(NATS_SERVER, 'nats-server');
    if (skip) return t.skip(skip);
    const nats = await started(t, startNats({ auth: { user: 'nudger', pass: 'p@ss word' } }));
    assert.equal(nats.info.url, `nats://nudger:p%40ss%20word@127.0.0.1:${nats.info.port}`);
    await assert.rejects(
      NatsClient.connect({ host: nats.info.host, port: nats.info.port }),
      /Authorization Violation/,
    );
    await assert.rejects(
      NatsClient.connect({ host: nats.info.host, port: nats.info.port, user: 'nudger', pass: 'wrong' }),
      /Authorization Violation/,
    );
    const client = await nats.connect();
    assert.equal(client.info.auth_required, true);
    client.close();
    await assertGone(nats);
  });
});

/**
 * The rules engine's outgoing POSTs against a raw HTTP/1.1 server on loopback: a kept-alive
 * connection that the server closes as the next request goes out on it is replaced at once by a
 * new one (the request was never processed), without counting as one of AWS's three tries; a
 * connection closed after the server read the request is not retried.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { postWithRetries, resetAgents } from '../src/rules/actions/http-request.js';

interface RawServer {
  url: URL;
  /** Requests read, per connection number (1 = the first connection). */
  requests: number[];
  close(): Promise<void>;
}

/**
 * Answers 200 to each request, keeping the connection open, except where `drop(connection,
 * request)` says to close it without an answer as the request arrives.
 */
async function rawServer(drop: (connection: number, request: number) => boolean): Promise<RawServer> {
  const requests: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection = requests.push(0);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        const n = ++requests[connection - 1]!;
        if (drop(connection, n)) {
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/hook`),
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

after(() => resetAgents());

test('a kept-alive connection the server closed as the request went out: sent again at once on a new one, not counted as a try', async () => {
  resetAgents();
  // The first connection answers its first request, then is closed as the second one arrives.
  const server = await rawServer((connection, request) => connection === 1 && request === 2);
  try {
    const body = Buffer.from('{"n":1}');
    assert.equal((await postWithRetries(server.url, {}, body, 2000)).tries, 1);
    const second = await postWithRetries(server.url, {}, body, 2000);
    assert.equal(second.result.status, 200);
    assert.equal(second.tries, 1);
    assert.deepEqual(server.requests, [2, 1], 'the second request went again on a new connection');
  } finally {
    await server.close();
  }
});

test('a request on a new connection that the server closes without answering is not sent again', async () => {
  resetAgents();
  const server = await rawServer(() => true);
  try {
    await assert.rejects(postWithRetries(server.url, {}, Buffer.from('{}'), 2000), (err: Error & { tries?: number }) => {
      assert.equal(err.tries, 1);
      return true;
    });
    assert.deepEqual(server.requests, [1]);
  } finally {
    await server.close();
  }
});

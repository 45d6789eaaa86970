// Throughput of compile-once/evaluate-many on one core, JSON.parse of the payload included.
// Run: node --conditions=source --import tsx packages/iot-sql/test/bench-throughput.ts
import { compile } from '../src/index.js';

const cases: [string, string, (i: number) => string][] = [
  [
    'filter+project',
    "SELECT temperature, topic(2) AS id FROM 'dt/+/temp' WHERE temperature > 30",
    (i) => `{"temperature":${i % 60},"humidity":${i % 100},"device":"d${i}"}`,
  ],
  ['select *', "SELECT * FROM 'dt/+/temp'", (i) => `{"temperature":${i % 60},"humidity":${i % 100},"device":"d${i}"}`],
  [
    'functions',
    "SELECT upper(device) AS d, round(temperature * 1.8 + 32) AS f, timestamp() AS ts, concat(topic(1), '-', device) AS k FROM 'dt/#' WHERE temperature > 10 AND startswith(device, 'd')",
    (i) => `{"temperature":${i % 60},"device":"d${i}"}`,
  ],
  [
    'nested query',
    "SELECT (SELECT VALUE v FROM e WHERE n = 'temperature') AS t FROM 'dt/#'",
    (i) => `{"e":[{"n":"temperature","v":${i}},{"n":"light","v":3}]}`,
  ],
];

const N = 200_000;
for (const [name, sql, payloadOf] of cases) {
  const stmt = compile(sql, { version: '2016-03-23' });
  const payloads = Array.from({ length: 1000 }, (_, i) => Buffer.from(payloadOf(i)));
  for (let i = 0; i < 20_000; i++) void stmt.evaluate({ topic: 'dt/d1/temp', payload: payloads[i % 1000]!, clientId: 'c' });
  const start = process.hrtime.bigint();
  let matched = 0;
  for (let i = 0; i < N; i++) {
    const r = stmt.evaluate({ topic: 'dt/d1/temp', payload: payloads[i % 1000]!, clientId: 'c' });
    if (!(r instanceof Promise) && r.matched) matched++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `${name.padEnd(16)} ${Math.round(N / seconds)
      .toLocaleString('en-US')
      .padStart(10)} evaluations/s  (${matched} matched)`,
  );
}

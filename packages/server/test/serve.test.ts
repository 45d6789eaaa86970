/** `thicket serve` as a process: first start, files and modes, HTTP endpoints, metrics, SIGTERM, `certs issue`. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify, stripVTControlCharacters } from 'node:util';
import mqtt from 'mqtt';
import { REPO, sleep, spawnServer, tempDir } from './helpers.js';

const PORTS = ['--mqtt-port', '0', '--mqtts-port', '0', '--http-port', '0', '--https-port', '0'];
const MAIN = join(REPO, 'packages/cli/src/main.ts');
const NODE_ARGS = ['--conditions=source', '--import', 'tsx'];
const run = promisify(execFile);

/**
 * The banner block in what the server printed: from the blank line before "Thicket is running" to
 * the blank line after the onboarding command, once that has arrived (it is printed last).
 */
async function bannerBlock(printed: () => string[], timeoutMs = 10_000): Promise<{ start: number; lines: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = printed();
    const start = output.findIndex((l) => l.startsWith('Thicket is running')) - 1;
    const end = output.findIndex((l) => l.startsWith('  Onboard a device:'));
    if (start >= 0 && end > start && output.length > end + 1) return { start, lines: output.slice(start, end + 2) };
    if (Date.now() > deadline) throw new Error(`no complete banner in:\n${output.join('\n')}`);
    await sleep(20);
  }
}

/** The rows every banner has, in order, for a server on 127.0.0.1 with every listener on. */
function expectedRows(ports: { mqtt: number; mqtts: number; http: number; https: number }, dataDir: string): string[] {
  return [
    '',
    `  MQTT              mqtt://127.0.0.1:${ports.mqtt}`,
    `  MQTT over TLS     mqtts://127.0.0.1:${ports.mqtts}  (client certificate required)`,
    `  MQTT over WS      ws://127.0.0.1:${ports.http}/mqtt`,
    `  MQTT over WSS     wss://127.0.0.1:${ports.https}/mqtt`,
    `  HTTP              http://127.0.0.1:${ports.http}  (/healthz, /metrics, /ca.pem)`,
    `  HTTPS             https://127.0.0.1:${ports.https}`,
    '',
    `  Data directory    ${dataDir}`,
    `  CA certificate    ${join(dataDir, 'ca.pem')}`,
  ];
}

test('first start creates the CA, server certificate and admin key with safe modes, and prints every endpoint', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--data-dir', dataDir, ...PORTS]);
    const mode = (f: string): number => statSync(join(dataDir, f)).mode & 0o777;
    assert.equal(mode('ca.key'), 0o600);
    assert.equal(mode('server.key'), 0o600);
    assert.equal(mode('credentials'), 0o600);
    const block = await bannerBlock(() => s.output);
    const ports = s.ports as { mqtt: number; mqtts: number; http: number; https: number };
    assert.deepEqual(block.lines.slice(1, 12), ['Thicket is running', ...expectedRows(ports, dataDir)]);
    assert.match(
      block.lines[12]!,
      /^ {2}Admin access key {2}TKIA[A-Z0-9]{16} {2}\(secret in .*credentials, AWS credentials-file format\)$/,
    );
    assert.deepEqual(block.lines.slice(13), [
      '',
      `  Onboard a device:  npx thicket provision my-device --endpoint http://127.0.0.1:${ports.http} --data-dir ${dataDir}`,
      '',
    ]);
    // Piped, every other line is a JSON log line, and the banner follows the "listening" line.
    const others = [...s.output.slice(0, block.start), ...s.output.slice(block.start + block.lines.length)];
    for (const line of others) assert.doesNotThrow(() => JSON.parse(line), `a JSON log line: ${line}`);
    assert.equal((JSON.parse(s.output[block.start - 1]!) as { msg: string }).msg, 'listening');
    const banner = block.lines.join('\n');
    const secret = /aws_secret_access_key = (\S+)/.exec(readFileSync(join(dataDir, 'credentials'), 'utf8'))![1]!;
    assert.ok(!banner.includes(secret), 'the secret key is never printed');

    const base = `http://127.0.0.1:${s.ports.http}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.equal(await (await fetch(`${base}/ca.pem`)).text(), readFileSync(join(dataDir, 'ca.pem'), 'utf8'));

    s.proc.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);

    // A second start keeps the CA.
    const caBefore = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
    const again = await spawnServer(['--data-dir', dataDir, ...PORTS]);
    assert.equal(readFileSync(join(dataDir, 'ca.pem'), 'utf8'), caBefore);
    again.proc.kill('SIGTERM');
    await again.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM sends MQTT 5 clients DISCONNECT 0x8B and exits cleanly', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--dev', '--data-dir', dataDir, ...PORTS]);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0 });
    const disconnect = new Promise<number | undefined>((r) => client.on('disconnect', (p) => r(p.reasonCode)));
    s.proc.kill('SIGTERM');
    assert.equal(await disconnect, 0x8b);
    assert.equal((await s.exited).code, 0);
    client.end(true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('/metrics reports connections, messages by QoS, and dropped messages', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--dev', '--data-dir', dataDir, ...PORTS]);
    const url = `mqtt://127.0.0.1:${s.ports.mqtt}`;
    const sub = await mqtt.connectAsync(url, { protocolVersion: 5 });
    await sub.subscribeAsync('m/#', { qos: 1 });
    const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
    await pub.publishAsync('m/1', 'x', { qos: 1 });
    await pub.publishAsync('m/2', 'y', { qos: 0, retain: true });
    await new Promise((r) => setTimeout(r, 100));
    const text = await (await fetch(`http://127.0.0.1:${s.ports.http}/metrics`)).text();
    const value = (line: string): number => {
      const found = text.split('\n').find((l) => l.startsWith(line + ' '));
      assert.ok(found, `metric ${line} present`);
      return Number(found.slice(line.length + 1));
    };
    assert.equal(value('thicket_mqtt_connections'), 2);
    assert.ok(value('thicket_mqtt_messages_received_total{qos="1"}') >= 1);
    assert.ok(value('thicket_mqtt_messages_sent_total{qos="1"}') >= 1);
    assert.equal(value('thicket_mqtt_retained_messages'), 1);
    assert.ok(value('thicket_mqtt_received_bytes_total{qos="0"}') > 0);
    assert.ok(text.includes('thicket_mqtt_messages_dropped_total{reason="queue_full"}'));
    assert.ok(text.includes('thicket_mqtt_messages_queued'));
    await sub.endAsync();
    await pub.endAsync();
    s.proc.kill('SIGTERM');
    await s.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

interface Printed {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

const started: ChildProcess[] = [];
after(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** `thicket serve` with its stdout piped, collected line by line whatever the format. */
function serveProcess(args: string[], env: NodeJS.ProcessEnv = {}): Printed {
  const proc = spawn(process.execPath, [...NODE_ARGS, MAIN, 'serve', '--host', '127.0.0.1', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env },
  });
  started.push(proc);
  const lines: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, lines, exited, stderr: () => stderr };
}

const portsIn = (lines: string[]): { mqtt: number; mqtts: number; http: number; https: number } => {
  const port = (re: RegExp): number => Number(lines.map((l) => re.exec(l)?.[1]).find(Boolean));
  return {
    mqtt: port(/mqtt:\/\/127\.0\.0\.1:(\d+)/),
    mqtts: port(/mqtts:\/\/127\.0\.0\.1:(\d+)/),
    http: port(/ {2}HTTP {14}http:\/\/127\.0\.0\.1:(\d+)/),
    https: port(/ {2}HTTPS {13}https:\/\/127\.0\.0\.1:(\d+)/),
  };
};

/** A pretty log line: local time, level, message; no pid, no JSON braces around it. */
const PRETTY = /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;

for (const [how, args, env] of [
  ['--log-format pretty', ['--log-format', 'pretty'], {}],
  ['THICKET_LOG_FORMAT=pretty', [], { THICKET_LOG_FORMAT: 'pretty' }],
] as const) {
  test(`${how}: log lines for people, and the banner as one block naming \`thicket provision\``, async () => {
    const dataDir = tempDir();
    try {
      const s = serveProcess(['--dev', '--data-dir', dataDir, ...PORTS, ...args], env);
      const block = await bannerBlock(() => s.lines, 20_000);
      const ports = portsIn(block.lines);
      assert.deepEqual(block.lines.slice(1, 12), [
        'Thicket is running in DEVELOPMENT MODE (anonymous clients allowed)',
        ...expectedRows(ports, dataDir),
      ]);
      assert.equal(
        block.lines.at(-2),
        `  Onboard a device:  npx thicket provision my-device --endpoint http://127.0.0.1:${ports.http} --data-dir ${dataDir}`,
      );

      const before = s.lines.slice(0, block.start);
      for (const line of before) assert.match(line, PRETTY);
      assert.ok(!s.lines.some((l) => l.startsWith('{')), 'no JSON line');
      assert.ok(!s.lines.some((l) => l.includes('\u001b[')), 'no colour codes when stdout is not a terminal');
      assert.ok(before.some((l) => /^\[[\d:.]+\] WARN: DEVELOPMENT MODE: clients may connect without credentials/.test(l)));
      assert.ok(
        before.some((l) => /^\[[\d:.]+\] INFO: http: Server listening at http:\/\/127\.0\.0\.1:\d+$/.test(l)),
        'component shown',
      );
      const listening = before.at(-1)!;
      assert.match(listening, /^\[[\d:.]+\] INFO: listening \{"ports":\{"mqtt":\d+,"mqtts":\d+,"http":\d+,"https":\d+\},"dataDir":/);
      assert.ok(!listening.includes('"pid"'));

      // Log lines after the banner come after it, never inside it.
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { reconnectPeriod: 0 });
      await client.endAsync();
      s.proc.kill('SIGTERM');
      assert.equal((await s.exited).code, 0);
      const tail = s.lines.slice(block.start + block.lines.length);
      assert.ok(tail.length >= 2, `shutdown logged: ${tail.join(' | ')}`);
      for (const line of tail) assert.match(line, PRETTY);
      assert.ok(tail.some((l) => /INFO: shutting down \{"signal":"SIGTERM"\}$/.test(l)));
      assert.match(tail.at(-1)!, /INFO: stopped$/);
      assert.equal(s.stderr(), '');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

test('an unknown --log-format is refused before anything starts', async () => {
  const dataDir = tempDir();
  try {
    const s = serveProcess(['--data-dir', dataDir, ...PORTS, '--log-format', 'colour']);
    assert.equal((await s.exited).code, 1);
    assert.equal(s.stderr(), 'thicket: log format: "colour" is not one of auto, json, pretty\n');
    assert.deepEqual(s.lines, []);
    const e = serveProcess(['--data-dir', dataDir, ...PORTS], { THICKET_LOG_FORMAT: 'PRETTY!' });
    assert.equal((await e.exited).code, 1);
    assert.equal(e.stderr(), 'thicket: log format: "PRETTY!" is not one of auto, json, pretty\n');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the onboarding command the banner prints works as printed', async () => {
  const dataDir = tempDir();
  const work = tempDir('thicket-onboard-');
  try {
    const s = await spawnServer(['--data-dir', dataDir, ...PORTS]);
    const block = await bannerBlock(() => s.output);
    const command = /^ {2}Onboard a device: {2}npx thicket (.*)$/.exec(block.lines.at(-2)!)![1]!.split(' ');
    assert.deepEqual(command.slice(0, 2), ['provision', 'my-device']);
    // Run from another directory, as a user in a second terminal would; `npx thicket` is main.ts,
    // and nothing from this environment may point it at the server instead of the printed flags.
    const env = { ...process.env, THICKET_ENDPOINT: undefined, THICKET_DATA_DIR: undefined, AWS_ACCESS_KEY_ID: undefined };
    const tsx = import.meta.resolve('tsx');
    const { stdout } = await run(process.execPath, ['--conditions=source', '--import', tsx, MAIN, ...command], { cwd: work, env });
    assert.match(stdout, /Provisioned my-device/);
    for (const f of ['certificate.pem', 'private.key', 'ca.pem', 'policy.json', 'connect.sh'])
      assert.ok(existsSync(join(work, 'devices', 'my-device', f)), `devices/my-device/${f}`);
    s.proc.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

const hasScript = ((): boolean => {
  try {
    return statSync('/usr/bin/script').isFile();
  } catch {
    return false;
  }
})();

test(
  'by default, on a terminal, log lines are pretty and coloured and the banner is one block',
  { skip: !hasScript && 'needs script(1) for a pseudo-terminal' },
  async () => {
    const dataDir = tempDir();
    try {
      const tsx = import.meta.resolve('tsx');
      const serve = [
        process.execPath,
        '--conditions=source',
        '--import',
        tsx,
        MAIN,
        'serve',
        '--host',
        '127.0.0.1',
        '--data-dir',
        dataDir,
        ...PORTS,
      ];
      // script(1) runs the command with a pseudo-terminal as its stdout and copies what it prints.
      const proc = spawn('/usr/bin/script', ['-qfec', `exec ${serve.join(' ')}`, '/dev/null'], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        // A person's terminal: CI machines set CI (Node then reports no colours), and the runner may set others.
        env: {
          ...process.env,
          TERM: 'xterm-256color',
          CI: undefined,
          NO_COLOR: undefined,
          FORCE_COLOR: undefined,
          NODE_DISABLE_COLORS: undefined,
          THICKET_LOG_FORMAT: undefined,
        },
      });
      started.push(proc);
      const raw: string[] = [];
      createInterface({ input: proc.stdout! }).on('line', (l) => raw.push(l));
      const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
      // The terminal ends lines with \r\n and colours with ANSI escapes; compare the text.
      const text = (): string[] => raw.map((l) => stripVTControlCharacters(l.replace(/\r$/, '')));
      const block = await bannerBlock(text, 20_000);
      const plain = text();
      const ports = portsIn(block.lines);
      assert.deepEqual(block.lines.slice(1, 12), ['Thicket is running', ...expectedRows(ports, dataDir)]);
      const before = plain.slice(0, block.start);
      assert.ok(before.length >= 2);
      for (const line of before) assert.match(line, PRETTY);
      assert.match(before.at(-1)!, /INFO: listening \{"ports":/);
      assert.ok(
        raw.slice(0, block.start).every((l) => l.includes('\u001b[')),
        'log lines are coloured on a terminal',
      );
      assert.ok(
        raw.slice(block.start, block.start + block.lines.length).every((l) => !l.includes('\u001b[')),
        'the banner is plain text',
      );
      proc.kill('SIGTERM');
      await exited;
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

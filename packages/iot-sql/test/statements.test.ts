// Whole statements: SELECT shapes, WHERE, SET, nested queries, binary payloads, version rules,
// compile-time rejections. Rows marked "docs" are the AWS developer guide examples.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, outputBytes, SqlParseError } from '../src/index.js';
import { message, run, statementCases } from './helpers.js';

const colors = { color: 'red', temperature: 50 };
const sensors = {
  e: [
    { n: 'temperature', u: 'Cel', t: 1234, v: 22.5 },
    { n: 'light', u: 'lm', t: 1235, v: 135 },
    { n: 'acidity', u: 'pH', t: 1235, v: 7 },
  ],
};

statementCases('SELECT', [
  { sql: "SELECT * FROM 'topic/subtopic'", payload: colors, output: colors }, // docs
  { sql: "SELECT color FROM 'topic/subtopic'", payload: colors, output: { color: 'red' } }, // docs
  { sql: "SELECT color AS my_color FROM 'topic/subtopic'", payload: colors, output: { my_color: 'red' } }, // docs
  {
    sql: "SELECT color as my_color, temperature as fahrenheit FROM 'topic/subtopic'",
    payload: colors,
    output: { my_color: 'red', fahrenheit: 50 },
  }, // docs
  { sql: "SELECT *, 15 AS speed FROM 'topic/subtopic'", payload: colors, output: { ...colors, speed: 15 } },
  { sql: "SELECT foo.bar AS bar.baz FROM 'topic/subtopic'", payload: { foo: { bar: 'RED', bar1: 'GREEN' } }, output: { 'bar.baz': 'RED' } }, // docs
  { sql: "SELECT color.red FROM 't'", payload: { color: { red: 255 } }, output: { red: 255 } },
  {
    sql: "SELECT temp, md5(deviceid) AS hashed_id FROM 'topic/#'",
    payload: { deviceid: 'iot123', temp: 54.98 },
    output: { temp: 54.98, hashed_id: 'e37f81fb397e595c4aeb5645b8cbbbd1' },
  }, // docs
  { sql: "SELECT missing FROM 't'", payload: colors, output: {} },
  { sql: "SELECT VALUE color FROM 'topic/subtopic'", payload: colors, output: 'red' }, // docs
  {
    sql: "SELECT color.red as red_value FROM 'topic/subtopic'",
    payload: { color: { red: 255, green: 0, blue: 0 }, temperature: 50 },
    output: { red_value: 255 },
  }, // docs
  {
    sql: "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'topic/subtopic'",
    payload: colors,
    output: { celsius: 10, my_color: 'RED' },
  }, // docs
  {
    sql: "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
    payload: { color: 'red', temperature: 100 },
    output: { rgb: 'red' },
  }, // docs
  {
    sql: "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'topic/subtopic'",
    payload: { lat_long: [47.606, -122.332] },
    output: { lat_long: { latitude: 47.606, longitude: -122.332 } },
  }, // docs
  {
    sql: "SELECT [lat,long] as lat_long FROM 'topic/subtopic'",
    payload: { lat: 47.606, long: -122.332 },
    output: { lat_long: [47.606, -122.332] },
  }, // docs
  {
    sql: 'SELECT decode(encoded_temp,"base64").temperature AS temp from \'topic/subtopic\'',
    payload: { encoded_temp: 'eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg==' },
    output: { temp: 33 },
  }, // docs
  { sql: "SELECT NULL AS n FROM 'topic/subtopic'", output: { n: null } }, // docs
  {
    sql: "SELECT CASE color\n        WHEN 'green' THEN 'go'\n        WHEN 'yellow' THEN 'caution'\n        WHEN 'red' THEN 'stop'\n        ELSE 'you are not at a stop light' END as instructions\n    FROM 'topic/subtopic'", // docs
    payload: { color: 'yellow' },
    output: { instructions: 'caution' },
  },
  {
    sql: "SELECT *, principal() as principal, timestamp() as time FROM 'topic/subtopic'",
    payload: { a: 1 },
    output: { a: 1, principal: 'abc123', time: 1_700_000_000_000 },
  }, // docs
  { sql: "SELECT color, null AS n FROM 't'", payload: colors, output: { color: 'red', n: null } },
  { sql: "SELECT timestamp() FROM 't'", output: { timestamp: 1_700_000_000_000 } },
  { sql: "SELECT 1 + 1 FROM 't'", output: { _1: 2 } },
  { sql: "SELECT a, 'x' FROM 't'", payload: { a: 1 }, output: { a: 1, _2: 'x' } },
  { sql: "select color from 'a' where temperature > 1", payload: colors, output: { color: 'red' } },
  { sql: "SELECT value FROM 't'", payload: { value: 3 }, output: { value: 3 } },
  { sql: "SELECT VALUE value FROM 't'", payload: { value: 3 }, output: 3, kind: 'value' },
  { sql: "SELECT VALUE 'x' FROM 't'", output: 'x', kind: 'value' },
  { sql: "SELECT VALUE arr FROM 'topic'", payload: { a: { b: 'c' }, arr: [1, 2, 3, 4] }, output: [1, 2, 3, 4] }, // docs
  { sql: "SELECT VALUE arr FROM 'topic'", payload: { arr: [1, 2] }, version: '2015-10-08', kind: 'undefined', output: undefined },
  { sql: "SELECT VALUE missing FROM 't'", kind: 'undefined', output: undefined },
  { sql: "SELECT * FROM 't'", payload: [1, 2], output: [1, 2] },
  { sql: "SELECT *, 1 AS one FROM 't'", payload: [1, 2], output: { one: 1 } },
  { sql: "SELECT a.b AS x, a.c AS y FROM 't'", payload: { a: { b: { deep: [1] }, c: 2 } }, output: { x: { deep: [1] }, y: 2 } },
  {
    sql: "SELECT temperature, topic(2) AS id FROM 'dt/+/temp' WHERE temperature > 30",
    payload: { temperature: 31 },
    output: { temperature: 31, id: 'd1' },
  },
  { sql: "SELECT VALUE {'id': topic(2), 'tags': [clientid(), sourceip()]} FROM 't'", output: { id: 'd1', tags: ['client-1', '10.0.0.7'] } },
  { sql: "SELECT * FROM 't'", payload: 'null', output: null },
]);

statementCases('WHERE', [
  { sql: "SELECT * FROM 'dt/+/temp' WHERE temperature > 30", payload: { temperature: 30 }, matched: false, output: undefined },
  { sql: "SELECT * FROM 't' WHERE 1", matched: false },
  { sql: "SELECT * FROM 't' WHERE 'true'", matched: false },
  { sql: "SELECT * FROM 't' WHERE missing > 1", matched: false },
  { sql: "SELECT * FROM 't' WHERE missing = 1 OR true", matched: false },
  { sql: "SELECT * FROM 't' WHERE isUndefined(missing)", matched: true },
  { sql: "SELECT * FROM 't' WHERE temperature > 40 AND color = 'red'", payload: colors, matched: true },
  { sql: "SELECT * FROM 't' WHERE temperature > 40 AND color <> 'red'", payload: colors, matched: false },
  { sql: "SELECT * FROM 't' WHERE topic(1) = 'dt'", matched: true },
  { sql: "SELECT * FROM 't' WHERE 'red' IN colors", payload: { colors: ['red'] }, matched: true },
  { sql: "SELECT t AS x FROM 't' WHERE x = 1", payload: { t: 1 }, matched: false }, // WHERE does not see aliases
  { sql: "SELECT * FROM 't' WHERE get_or_default(missing, 5) = 5", matched: true },
  {
    sql: 'SELECT * from \'iot/rules\' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue"',
    payload: { mydata: { item2: { '0': { 'my-key': 'myValue' } } } },
    matched: true,
  }, // docs
  { sql: "SELECT * FROM 'topic/subtopic' WHERE timestamp() % 12 = 0", matched: false }, // docs (1700000000000 % 12 = 8)
]);

statementCases('nested object queries', [
  {
    sql: "SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'",
    payload: sensors,
    output: { sensors: ['temperature', 'light', 'acidity'] },
  }, // docs
  {
    sql: "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'",
    payload: sensors,
    output: { temperature: [{ v: 22.5 }] },
  }, // docs
  {
    sql: "SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'",
    payload: sensors,
    output: { temperature: 22.5 },
  }, // docs
  { sql: "SELECT (SELECT * FROM e WHERE v > 100) AS bright FROM 't'", payload: sensors, output: { bright: [sensors.e[1]] } },
  { sql: "SELECT (SELECT VALUE v * 2 FROM e WHERE u <> 'lm') AS doubled FROM 't'", payload: sensors, output: { doubled: [45, 14] } },
  { sql: "SELECT (SELECT VALUE a FROM o) AS r FROM 't'", payload: { o: { a: 1 } }, output: { r: 1 } },
  { sql: "SELECT (SELECT a FROM o WHERE a > 5) AS r, 1 AS one FROM 't'", payload: { o: { a: 1 } }, output: { one: 1 } },
  {
    sql: "select value transform('enrichArray', (select a, b from data2), (select value c from data2)) from 'A/B'", // docs
    payload: {
      data1: 'example',
      data2: {
        a: 'first attribute',
        b: 'second attribute',
        c: [
          { x: { someInt: 5, someString: 'hello' }, y: true },
          { x: { someInt: 10, someString: 'world' }, y: false },
        ],
      },
    },
    output: [
      { x: { someInt: 5, someString: 'hello' }, y: true, a: 'first attribute', b: 'second attribute' },
      { x: { someInt: 10, someString: 'world' }, y: false, a: 'first attribute', b: 'second attribute' },
    ],
  },
  {
    sql: 'select value transform("enrichArray", {"key": attributes.data1}, values) from \'A/B\'', // docs
    payload: { attributes: { data1: 1, data2: 2 }, values: [{ a: 3 }, { b: 4 }, { c: 5 }] },
    output: [
      { a: 3, key: 1 },
      { b: 4, key: 1 },
      { c: 5, key: 1 },
    ],
  },
  { sql: "SELECT (SELECT VALUE a FROM s) AS r FROM 't'", payload: { s: 'text' }, output: {} },
  { sql: "SELECT (SELECT VALUE x FROM e) AS r FROM 't'", payload: { e: [{ x: 1 }, 2, { y: 3 }] }, output: { r: [1] } },
  {
    sql: "SELECT VALUE (SELECT VALUE (SELECT VALUE b FROM a) FROM rows) FROM 't'",
    payload: { rows: [{ a: [{ b: 1 }, { b: 2 }] }, { a: [] }] },
    output: [[1, 2], []],
  },
  {
    sql: "SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'",
    version: '2015-10-08',
    error: /nested SELECT requires SQL version 2016-03-23/,
  },
]);

statementCases('SET variables', [
  { sql: "SET @t = temperature * 2 SELECT @t AS doubled FROM 't'", payload: { temperature: 31 }, output: { doubled: 62 } },
  { sql: "SET @a = 1, @b = @a + 1 SELECT VALUE @b FROM 't'", output: 2 },
  {
    sql: "SET @limit = 30 SELECT temperature FROM 't' WHERE temperature > @limit",
    payload: { temperature: 31 },
    output: { temperature: 31 },
  },
  { sql: "SET @limit = 30 SELECT temperature FROM 't' WHERE temperature > @limit", payload: { temperature: 3 }, matched: false },
  {
    sql: "SET @name = 'temperature' SELECT (SELECT VALUE v FROM e WHERE n = @name) AS r FROM 't'",
    payload: sensors,
    output: { r: [22.5] },
  },
  { sql: "SET @x = upper(color) SELECT concat(@x, '!') AS shout FROM 't'", payload: colors, output: { shout: 'RED!' } },
  { sql: "SET @x = missing SELECT @x AS x, 1 AS one FROM 't'", output: { one: 1 } },
  {
    sql: "SET @device_sensor_data = device1.deviceData.sensors SELECT @device_sensor_data.temp_fahrenheit AS temp_fahrenheit, @device_sensor_data.humidity as humidity FROM 'device/data'", // docs
    payload: {
      device1: { deviceId: 'weather_sensor', deviceData: { sensors: { temp_fahrenheit: 75, humidity: 60 }, location: [47.606, -122.332] } },
    },
    output: { temp_fahrenheit: 75, humidity: 60 },
  },
  {
    sql: "SET @mode = 'enrichArray' SELECT VALUE transform(@mode, {}, []) FROM 't'",
    error: /The mode argument of transform\(\) cannot be a SET variable/,
  },
  { sql: "SELECT @undefined FROM 't'", error: /Variable @undefined is not defined/ },
  { sql: "SET @a = 1, @a = 2 SELECT @a FROM 't'", error: /Variable @a is already defined; SET variables are immutable/ },
  { sql: "SET @a = @b, @b = 1 SELECT @a FROM 't'", error: /Variable @b is not defined/ },
]);

statementCases('version gates and compile-time checks', [
  { sql: "SELECT {'a': 1} AS o FROM 't'", version: '2015-10-08', error: /An object literal requires SQL version 2016-03-23/ },
  { sql: "SELECT [1] AS o FROM 't'", version: '2015-10-08', error: /An array literal requires SQL version 2016-03-23/ },
  { sql: "SELECT indexof('ab', 'b') AS i FROM 't'", version: '2015-10-08', error: /Function indexof\(\) requires SQL version 2016-03-23/ },
  { sql: "SELECT encode(*, 'base64') AS i FROM 't'", version: '2015-10-08', error: /Function encode\(\) requires SQL version/ },
  { sql: "SELECT cast(1 AS Bool) AS b FROM 't'", version: '2015-10-08', error: /cast\(\.\.\. AS bool\) requires SQL version/ },
  { sql: "SELECT cast(1 AS Decimal) AS b FROM 't'", version: '2015-10-08', error: /cast\(\.\.\. AS decimal\) requires SQL version/ },
  { sql: "SELECT cast(1 AS Widget) AS b FROM 't'", error: /Unsupported cast type: widget/ },
  { sql: "SELECT nosuchfn(1) FROM 't'", error: /Unknown function: nosuchfn/ },
  { sql: "SELECT abs(1, 2) FROM 't'", error: /Function abs\(\) takes 1 argument, got 2/ },
  { sql: "SELECT substring('a') FROM 't'", error: /Function substring\(\) takes 2 to 3 arguments, got 1/ },
  { sql: "SELECT rand(1) FROM 't'", error: /Function rand\(\) takes 0 arguments, got 1/ },
  { sql: "SELECT abs(-1) AS a FROM 't'", version: '2015-10-08', output: { a: 1 } },
  { sql: "SELECT isUndefined(x) AS a FROM 't'", version: '2015-10-08', error: /Function isundefined\(\) requires SQL version/ },
]);

test('SELECT * over a non-JSON payload forwards the bytes unchanged', async () => {
  const bytes = new Uint8Array([0, 1, 2, 255, 254]);
  const r = await compile("SELECT * FROM 't' WHERE topic(1) = 'dt'").evaluate(message(bytes));
  assert.equal(r.matched, true);
  assert.equal(r.kind, 'binary');
  assert.deepEqual(r.binary, bytes);
  assert.equal(r.output, undefined);
});

test('binary payloads: fields are Undefined, encode(*) is the base64 of the bytes', async () => {
  const bytes = Buffer.from('not json at all');
  const r = await compile("SELECT encode(*, 'base64') AS data, x, timestamp() AS ts FROM 't'", { version: '2016-03-23' }).evaluate(
    message(bytes),
  );
  assert.deepEqual(r.output, { data: bytes.toString('base64'), ts: 1_700_000_000_000 });
});

test('encode(*) over a JSON payload encodes the payload text; decode(encode(*)) re-parses it', async () => {
  const payload = '{"a": {"b": 7}}';
  const r = await compile("SELECT encode(*, 'base64') AS data, decode(encode(*, 'base64'), 'base64').a.b AS b FROM 't'", {
    version: '2016-03-23',
  }).evaluate(message(payload));
  assert.deepEqual(r.output, { data: Buffer.from(payload).toString('base64'), b: 7 });
});

test('an empty payload is not JSON', async () => {
  const r = await compile("SELECT * FROM 't'").evaluate(message(''));
  assert.equal(r.kind, 'binary');
  assert.equal(r.binary!.length, 0);
});

test('FROM is extracted; a statement without FROM has from === undefined', () => {
  assert.equal(compile("SELECT * FROM 'dt/+/temp/#'").from, 'dt/+/temp/#');
  assert.equal(compile('SELECT *').from, undefined);
  assert.equal(compile("SELECT * FROM '$aws/things/+/shadow/update'").from, '$aws/things/+/shadow/update');
});

test('the default SQL version is 2015-10-08; unknown versions are rejected', () => {
  assert.equal(compile('SELECT *').version, '2015-10-08');
  assert.equal(compile('SELECT *', { version: 'beta' }).version, 'beta');
  assert.throws(
    () => compile('SELECT *', { version: '2020-01-01' }),
    (err: unknown) => err instanceof SqlParseError && /Unsupported SQL version: 2020-01-01/.test(err.message),
  );
});

test('result.variables carries the SET values for substitution templates', async () => {
  const r = await run("SET @id = topic(2), @n = 5 SELECT * FROM 't'", {});
  assert.deepEqual(r.variables, { id: 'd1', n: 5 });
});

test('a compiled statement is reusable across many messages', async () => {
  const stmt = compile("SELECT temperature, topic(2) AS id FROM 'dt/+/temp' WHERE temperature > 30", { version: '2016-03-23' });
  for (let i = 0; i < 50; i++) {
    const r = await stmt.evaluate(message({ temperature: i }, `dt/dev${i}/temp`));
    assert.equal(r.matched, i > 30);
    if (i > 30) assert.deepEqual(r.output, { temperature: i, id: `dev${i}` });
  }
});

test('outputBytes: JSON text, raw bytes, or empty for Undefined', async () => {
  const obj = await run("SELECT a FROM 't'", { a: 'é' });
  assert.equal(Buffer.from(outputBytes(obj)).toString('utf8'), '{"a":"é"}');
  const val = await run("SELECT VALUE a FROM 't'", { a: 'x' });
  assert.equal(Buffer.from(outputBytes(val)).toString('utf8'), '"x"');
  const none = await run("SELECT VALUE missing FROM 't'", {});
  assert.equal(outputBytes(none).length, 0);
  const bytes = new Uint8Array([1, 2, 3]);
  const bin = await compile("SELECT * FROM 't'").evaluate(message(bytes));
  assert.deepEqual(outputBytes(bin), bytes);
});

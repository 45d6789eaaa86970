import { inspect } from 'node:util';

// node:test reporter that lists, at the end of the run, each failed test with its file and error.
// CI keeps only the tail of a long log; with this the tail names what failed.
export default async function* failureSummary(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    const error = details?.error;
    // A file's own failure repeats its tests' failures; keep the innermost (those with a cause).
    if (error?.failureType === 'subtestsFailed') continue;
    const cause = error?.cause ?? error;
    const text = describe(cause?.stack ?? cause?.message ?? cause ?? 'failed')
      .split('\n')
      .slice(0, 6)
      .join('\n    ');
    failures.push(`${file ?? '?'}\n  ✖ ${name}\n    ${text}`);
  }
  if (failures.length) yield `\n# ${failures.length} failed:\n${failures.join('\n')}\n`;
}

// A cause may be a plain object without a prototype (String() throws on it), which would end the run.
function describe(value) {
  return typeof value === 'string' ? value : inspect(value, { depth: 3 });
}

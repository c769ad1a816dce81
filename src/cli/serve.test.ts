import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { veltair } from './testing.js';

// Each of these must be refused before anything is built or bound: the repository given does
// not exist, so a check that came too late would fail on it instead.
describe('veltair serve refuses bad flags before it starts', () => {
  const bad: [string[], RegExp, number][] = [
    [['--policy', 'nope'], /^veltair: unknown_policy: unknown policy 'nope' \(known: veltair, .*naive\)$/, 2],
    [
      ['--max-body-mib', '0'],
      /^veltair: invalid_argument: --max-body-mib must be a positive number, got '0'$/,
      2,
    ],
    [
      ['--http-port', '70000'],
      /^veltair: invalid_argument: --http-port must be an integer in \[0, 65535\], got '70000'$/,
      2,
    ],
  ];
  for (const [flags, message, exitCode] of bad) {
    it(`answers '${flags.join(' ')}' with one line and exit ${exitCode}`, async () => {
      const r = await veltair('serve', '--repository', '/nonexistent/veltair-repo', ...flags);
      assert.equal(r.code, exitCode, r.stderr);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }
});

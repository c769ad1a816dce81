import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, type ErrorCode } from '../errors/index.js';
import { GRPC_STATUS, HTTP_STATUS } from '../server/index.js';
import { EXIT_STATUS } from './index.js';

const DOC = new URL('../../docs/errors.md', import.meta.url);

/** The table's cells for a code, as docs/errors.md must carry them. */
function cellsOf(code: ErrorCode): string {
  const entry = ERROR_CODES[code];
  return [
    `\`${code}\``,
    entry.class,
    String(HTTP_STATUS[entry.class]),
    grpc.status[GRPC_STATUS[entry.class]],
    String(EXIT_STATUS[entry.class]),
    entry.what,
    entry.action,
  ].join(' | ');
}

/** A markdown row's cells, trimmed (the formatter pads them), joined the same way. */
function cellsOfRow(row: string): string {
  return row
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'))
    .join(' | ');
}

test('docs/errors.md documents every error code exactly as the code defines it, and nothing else', () => {
  const documented = readFileSync(DOC, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => cellsOfRow(line.trim()));
  const defined = (Object.keys(ERROR_CODES) as ErrorCode[]).map(cellsOf);
  const missing = defined.filter((row) => !documented.includes(row));
  const stale = documented.filter((row) => !defined.includes(row));
  assert.deepEqual(missing, [], 'rows docs/errors.md lacks or carries differently (the code is right)');
  assert.deepEqual(stale, [], 'rows docs/errors.md carries that no code defines');
});

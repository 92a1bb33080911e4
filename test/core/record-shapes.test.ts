// Buckets whose schemas list the same fields make their records with one
// constructor (engine/schema.ts, recordShapeFor), so V8 gives them one
// hidden class: code optimised for a bucket's records stays valid when the
// bucket is defined again or the store restarts in the same process.
// Checked in a child process with V8's own %HaveSameMap. Likewise a hash
// index's value groups (engine/indexes.ts, VALUE_GROUP_ANCHOR) and the compiled
// record check (engine/schema.ts, WHOLE_CHECKS): HashIndex.add and
// SchemaValidator.prepareInsert stay optimised across a restart (%GetOptimizationStatus).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const CHILD = path.resolve(import.meta.dirname, '../fixtures/record-shapes.ts');
const RESTART_CHILD = path.resolve(import.meta.dirname, '../fixtures/restart-optimized.ts');

describe('record shapes', () => {
  it('records of buckets with the same fields share a hidden class, across stores and updates', () => {
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', CHILD], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({
      acrossStores: true,
      afterUpdate: true,
      otherFields: false,
      plain: true,
    });
  });

  it('code optimised for inserts survives a store restart (hash index groups, the compiled record check)', () => {
    const out = execFileSync(
      process.execPath,
      ['--allow-natives-syntax', '--expose-gc', '--import', 'tsx', RESTART_CHILD],
      { encoding: 'utf8' },
    );
    const optimized = { add: true, prepareInsert: true };
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ before: optimized, after: optimized });
  });
});

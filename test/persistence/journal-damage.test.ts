// FileAdapter journal damage: a bad frame in the middle costs that frame
// only. The frames after it are recovered (the scan resynchronises on the
// next valid frame), the journal as it was is kept in a copy, and the report
// says which bytes, how many frames and which records were skipped. A torn
// tail is still cut off and reported, never a refusal to start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BucketHandle,
  FileAdapter,
  JournalDamagedError,
  ReadOnlyStorageError,
  Store,
} from '../../src/index.js';
import { tempDir } from './helpers.js';
import { fillDisk, mountTmpfs } from './tmpfs.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

/** Frame boundaries of a journal: [start, end) of each frame. */
function frames(buf: Buffer): Array<{ start: number; end: number; text: string }> {
  const out = [];
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    out.push({ start: pos, end: pos + 8 + len, text: buf.toString('utf8', pos + 8, pos + 8 + len) });
    pos += 8 + len;
  }
  return out;
}

/** A store whose journal holds one frame per strict write: define + inserts 0..99 (+ `extra`). */
async function journalWith(extra?: (b: BucketHandle<any, any>) => Promise<void>) {
  const dir = path.join(tempDir(), 'f');
  const s = await Store.start({
    name: 'j',
    persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
  });
  const b = await s.defineBucket('b', def);
  for (let i = 0; i < 100; i++) await b.insert({ id: i, v: `value ${i}` });
  await extra?.(b);
  await s.stop();
  const journal = path.join(dir, 'j.journal');
  return { dir, journal, buf: fs.readFileSync(journal) };
}

async function open(dir: string, readOnly = false) {
  const errors: Error[] = [];
  const s = await Store.start({
    name: 'j',
    persistence: { adapter: new FileAdapter(dir, { readOnly }), onError: (e) => errors.push(e) },
  });
  const b = await s.defineBucket('b', def);
  return { s, b, errors: errors.filter((e) => !(e instanceof ReadOnlyStorageError)) };
}

describe('FileAdapter journal damage', () => {
  it('a damaged frame in the middle skips that frame only: the 99 commits after it are recovered, the cut is kept and reported', async () => {
    const { dir, journal, buf } = await journalWith();
    const all = frames(buf);
    const victim = all.find((f) => f.text.includes('value 0\\"'))!;
    expect(victim).toBeDefined();
    // Flip one byte inside the record's text: the frame still parses, its checksum does not match.
    const at = victim.start + 8 + victim.text.indexOf('value 0') + 2;
    buf[at] ^= 0x01;
    fs.writeFileSync(journal, buf);

    const { s, b, errors } = await open(dir);
    expect(await b.count()).toBe(99);
    expect(await b.get(0)).toBeUndefined();
    for (let i = 1; i < 100; i++) expect(await b.get(i)).toMatchObject({ v: `value ${i}` });
    expect(errors).toHaveLength(1);
    const err = errors[0] as JournalDamagedError;
    expect(err).toBeInstanceOf(JournalDamagedError);
    expect(err.code).toBe('STORAGE_CORRUPT');
    expect(err.skipped).toEqual([
      {
        from: victim.start,
        to: victim.end,
        reason: 'checksum mismatch',
        frames: 1,
        records: [{ bucket: 'b', key: '0', op: 'insert' }],
      },
    ]);
    expect(err.recoveredFrames).toBe(99);
    expect(err.message).toContain(`bytes ${victim.start}-${victim.end}`);
    expect(err.message).toContain('b/0 (insert)');
    expect(err.message).toMatch(/99 valid frame\(s\) after the damage were recovered/);
    // The journal as it was, damaged frame included, is kept next to it.
    expect(err.copy).toBeDefined();
    expect(path.dirname(err.copy!)).toBe(dir);
    expect(path.basename(err.copy!)).toMatch(/^j\.journal\.corrupt-\d+$/);
    expect(fs.readFileSync(err.copy!).equals(buf)).toBe(true);
    await b.insert({ id: 1000, v: 'after' });
    await s.stop();

    // What was recovered was written as a new snapshot: the damage is not met again.
    const again = await open(dir);
    expect(again.errors).toEqual([]);
    expect(await again.b.count()).toBe(100);
    expect(await again.b.get(1000)).toBeDefined();
    await again.s.stop();
  });

  it('a damaged frame header (length destroyed) resynchronises on the next valid frame', async () => {
    const { dir, journal, buf } = await journalWith();
    const all = frames(buf);
    const victim = all.find((f) => f.text.includes('value 50\\"'))!;
    buf.writeUInt32BE(0xdeadbeef, victim.start);
    fs.writeFileSync(journal, buf);
    const { s, b, errors } = await open(dir);
    expect(await b.get(50)).toBeUndefined();
    expect(await b.count()).toBe(99);
    expect(await b.get(99)).toBeDefined();
    const err = errors[0] as JournalDamagedError;
    expect(err.skipped).toHaveLength(1);
    expect(err.skipped[0]).toMatchObject({
      from: victim.start,
      to: victim.end,
      frames: undefined,
      records: [],
    });
    expect(err.skipped[0]!.reason).toMatch(/invalid frame length/);
    expect(err.recoveredFrames).toBe(49);
    await s.stop();
  });

  it('read-only: the damage is skipped in memory and reported; the files are not touched', async () => {
    const { dir, journal, buf } = await journalWith();
    const victim = frames(buf).find((f) => f.text.includes('value 10\\"'))!;
    buf[victim.start + 6] ^= 0xff; // the checksum field
    fs.writeFileSync(journal, buf);
    const { s, b, errors } = await open(dir, true);
    expect(await b.count()).toBe(99);
    expect((errors[0] as JournalDamagedError).copy).toBeUndefined();
    expect(errors[0]!.message).toMatch(/nothing changed \(read-only\)/);
    await s.stop();
    expect(fs.readFileSync(journal).equals(buf)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  });

  it('a skipped insert followed by an update: the record comes back whole from the update, and the report names it', async () => {
    const { dir, journal, buf } = await journalWith(async (b) => {
      await b.update(7, { v: 'seven, updated' });
      await b.delete(8);
    });
    const all = frames(buf);
    // Damage the insert of 7 and the delete of 8 (the last digit of their lastSeq: both still parse).
    for (const f of [all.find((x) => x.text.includes('value 7\\"'))!, all.at(-1)!])
      buf[f.start + 8 + f.text.indexOf(',"feed"') - 1] ^= 0x01;
    fs.writeFileSync(journal, buf);
    const { s, b, errors } = await open(dir);
    // Each frame holds a whole record image, so the later update restores record 7 completely…
    expect(await b.get(7)).toMatchObject({ id: 7, v: 'seven, updated', _version: 2 });
    // …while a skipped delete leaves the record in place: the report lists it so it can be checked.
    expect(await b.get(8)).toMatchObject({ id: 8 });
    const err = errors[0] as JournalDamagedError;
    expect(err.skipped.map((r) => r.records)).toEqual([
      [{ bucket: 'b', key: '7', op: 'insert' }],
      [{ bucket: 'b', key: '8', op: 'delete' }],
    ]);
    // the delete was the last frame: a corrupt tail, cut off
    expect(fs.statSync(journal).size).toBe(0);
    await s.stop();
  });

  it('a torn tail (incomplete last frame) is cut off, kept in the copy and reported; the store starts', async () => {
    const { dir, journal, buf } = await journalWith();
    const torn = buf.subarray(0, buf.length - 5);
    fs.writeFileSync(journal, torn);
    const last = frames(buf).at(-1)!;
    const { s, b, errors } = await open(dir);
    expect(await b.count()).toBe(99);
    const err = errors[0] as JournalDamagedError;
    expect(err.message).toMatch(/torn or corrupt tail at byte \d+/);
    expect(err.skipped).toEqual([
      {
        from: last.start,
        to: torn.length,
        reason: expect.stringMatching(/cut short/),
        frames: undefined,
        records: [],
      },
    ]);
    expect(err.recoveredFrames).toBe(0);
    expect(fs.readFileSync(err.copy!).equals(torn)).toBe(true);
    expect(fs.statSync(journal).size).toBe(last.start);
    await b.insert({ id: 99, v: 'again' });
    await s.stop();
    const again = await open(dir);
    expect(again.errors).toEqual([]);
    expect(await again.b.get(99)).toMatchObject({ v: 'again' });
    await again.s.stop();
  });

  it('on a full disk (no room for the copy) the store still starts: damage skipped and reported, the journal left as it is', async () => {
    const mnt = mountTmpfs('1m');
    const dir = path.join(mnt, 'f');
    const s0 = await Store.start({
      name: 'j',
      persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
    });
    const b0 = await s0.defineBucket('b', def);
    for (let i = 0; i < 20; i++) await b0.insert({ id: i, v: `value ${i}` });
    await s0.stop();
    const journal = path.join(dir, 'j.journal');
    const buf = fs.readFileSync(journal);
    const victim = frames(buf).find((f) => f.text.includes('value 5\\"'))!;
    buf[victim.start + 6] ^= 0xff;
    const torn = buf.subarray(0, buf.length - 3);
    fs.writeFileSync(journal, torn);
    fillDisk(mnt, 0);
    const { s, b, errors } = await open(dir);
    expect(await b.count()).toBe(18); // 5 skipped, 19 torn
    const err = errors[0] as JournalDamagedError;
    expect(err).toBeInstanceOf(JournalDamagedError);
    expect(err.copy).toBeUndefined();
    expect(err.message).toMatch(/no copy could be kept .*ENOSPC.*left as it is/);
    expect(err.skipped.map((r) => r.from)).toEqual([victim.start, frames(buf).at(-1)!.start]);
    expect(fs.readFileSync(journal).equals(torn)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    await s.stop();
  });
});

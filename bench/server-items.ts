// The bucket and seed records of the server benchmark (shared by the client side and the servers).
export const ITEMS = {
  key: 'id',
  schema: { id: { type: 'string' }, n: { type: 'number' }, text: { type: 'string' } },
} as const;

export const SEED = 1000;

export function seedRecord(i: number): { id: string; n: number; text: string } {
  return { id: `s${i}`, n: i, text: 'seed record text' };
}

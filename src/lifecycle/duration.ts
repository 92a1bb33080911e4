const MULTIPLIERS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * Parse a TTL/duration: a positive finite number of milliseconds, or a
 * string such as "30s", "15m", "1h", "7d". Throws a plain `Error` with the
 * noex-store wording; callers wrap it with context.
 */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new Error(`TTL must be a positive finite number, got ${String(value)}`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new Error(`TTL must be a number (ms) or a string like "30s", got ${typeof value}`);
  }
  const match = DURATION_PATTERN.exec(value.trim());
  if (match === null) {
    throw new Error(
      `Invalid TTL format "${value}". Expected a number (ms) or string like "30s", "5m", "1h", "7d".`,
    );
  }
  const amount = Number(match[1]);
  if (amount <= 0) throw new Error(`TTL value must be positive, got "${value}"`);
  return amount * MULTIPLIERS[match[2]!]!;
}

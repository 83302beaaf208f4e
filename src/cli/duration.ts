import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "10m", "30s", "1h30m", "500ms" → milliseconds. */
export const durationSchema = z
  .string()
  .regex(/^(\d+(ms|s|m|h))+$/, 'must be a duration such as 30s, 10m or 1h')
  .transform((text) =>
    [...text.matchAll(/(\d+)(ms|s|m|h)/g)].reduce((total, [, n, unit]) => total + Number(n) * (UNITS[unit as string] ?? 0), 0),
  );

// Command-line flags: parsed strictly with node:util and validated with zod, so a bad flag gets one
// clear line that names it.
import { parseArgs } from 'node:util';
import type { z } from 'zod';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** Parses `argv` against `spec` and validates the result with `schema` (flag names as keys). */
export function parseFlags<S extends z.ZodType>(argv: string[], spec: FlagSpec, schema: S): { flags: z.infer<S>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: true, allowNegative: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^Unknown option '(.*?)'.*$/s, 'unknown flag $1'));
  }
  const result = schema.safeParse(parsed.values);
  if (!result.success) {
    const issue = result.error.issues[0];
    const flag = issue?.path.length ? `--${issue.path.join('.')}` : 'flags';
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return { flags: result.data, positionals: parsed.positionals };
}

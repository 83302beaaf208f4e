import { randomInt } from 'node:crypto';

const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';
const ALL = LOWER + UPPER + DIGITS;

/**
 * A strong password (32 characters, ~185 bits) with lower, upper and digit characters, which managed
 * providers' complexity rules ask for, and no character that needs quoting or URL-encoding.
 */
export function generatePassword(length = 32): string {
  const chars = [LOWER, UPPER, DIGITS].map((set) => set[randomInt(set.length)] as string);
  while (chars.length < length) chars.push(ALL[randomInt(ALL.length)] as string);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

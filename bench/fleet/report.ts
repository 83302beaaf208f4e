// Tables of the fleet bench: each measure beside its target from issue 19, met or missed by how much,
// plus the machine and its load; the same rows go to the JSON file.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Row {
  measure: string;
  value: string;
  target: string;
  verdict: string;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres?: string;
}

export function machine(): Machine {
  const nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  return { nproc, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', memoryGiB: totalmem() / 2 ** 30, node: process.version };
}

export function load(): [number, number, number] {
  return loadavg().map((n) => Math.round(n * 100) / 100) as [number, number, number];
}

export const fmt = (n: number, digits = 1) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits));

/** "met", or by how much `value` exceeds `limit`. */
export function atMost(value: number, limit: number, unit = ''): string {
  if (value <= limit) return 'met';
  const over = `missed by ${fmt(value - limit)}${unit}`;
  return limit > 0 ? `${over} (${(value / limit).toFixed(2)}x the target)` : over;
}

export function info(): string {
  return '-';
}

export function table(title: string, rows: Row[]): string {
  const all = [{ measure: 'measure', value: 'value', target: 'target', verdict: 'verdict' }, ...rows];
  const w = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
  const [a, b, c] = [w('measure'), w('value'), w('target')];
  const lines = all.map((r) => `  ${r.measure.padEnd(a)}  ${r.value.padStart(b)}  ${r.target.padEnd(c)}  ${r.verdict}`);
  return [title, ...lines].join('\n');
}

export function row(measure: string, value: string, target = '', verdict = ''): Row {
  return { measure, value, target: target || '-', verdict: verdict || '' };
}

// Progress and tables for people: a live line on a terminal, plain lines when piped (nothing garbled).
import type { Progress } from '../provisioning/progress.js';

export interface ProgressDisplay {
  update(label: string, progress: Progress): void;
  /** Prints a finished line (clears the live line first). */
  line(text: string): void;
  done(): void;
}

export function progressDisplay(stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  const live = Boolean(stream.isTTY) && process.env.CI !== 'true';
  let lastPlain = '';
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(label, p) {
      if (live) {
        const width = 20;
        const filled = Math.round((p.percent / 100) * width);
        const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
        const text = `${label} [${bar}] ${String(p.percent).padStart(3)}% ${p.step}: ${p.message}`;
        clear();
        stream.write(text.slice(0, Math.max(20, (stream.columns ?? 100) - 1)));
        drawn = true;
        return;
      }
      // Piped: one line per step change, so logs stay readable.
      const key = `${label} ${p.step}`;
      if (key === lastPlain && p.percent < 100) return;
      lastPlain = key;
      stream.write(`${label} ${String(p.percent).padStart(3)}% ${p.step}: ${p.message}\n`);
    },
    line(text) {
      clear();
      stream.write(`${text}\n`);
    },
    done() {
      clear();
    },
  };
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [format(headers), ...rows.map(format)].join('\n');
}

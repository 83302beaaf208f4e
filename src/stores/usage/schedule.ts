// Runs the collector every interval, each wait jittered (±10%) so replicas and restarts do not line up,
// never two runs at once. The first run comes one interval after start.
import type { Logger } from '../../log.js';

export class UsageSchedule {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly run: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.intervalMs > 0) this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const wait = this.intervalMs * (0.9 + Math.random() * 0.2);
    this.#timer = setTimeout(() => {
      this.#running = this.run()
        .catch((error: unknown) => this.log.warn({ err: (error as Error).message }, 'usage collection failed'))
        .finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
    }, wait);
    this.#timer.unref();
  }

  /** Stops scheduling and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}

// Test cleanup that tries every step: one failing step must not leave the rest of a test's leftovers
// behind, and every failure is still reported.

/** Runs the steps in order, each even after another failed, then throws all the failures at once. */
export async function runEveryStep(what: string, steps: Iterable<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length) throw new AggregateError(failures, what);
}

// Runs one task per store, at most `concurrency` at once; a failure of one never stops the others, and
// each finished store is reported with how many of all are done.
export async function runAll<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
  onDone: (result: R, done: number, total: number) => void,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const result = await task(items[i] as T);
      results[i] = result;
      onDone(result, ++done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

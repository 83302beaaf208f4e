// Runs work items grouped by server: at most `perServer` at once on each server, all servers in parallel.
export async function forEachPerServer<T>(
  items: readonly T[],
  serverOf: (item: T) => string,
  perServer: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = serverOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  await Promise.all(
    [...groups.values()].map(async (group) => {
      let next = 0;
      const worker = async () => {
        while (next < group.length) await work(group[next++] as T);
      };
      await Promise.all(Array.from({ length: Math.min(perServer, group.length) }, worker));
    }),
  );
}

// Reads a request body under a size limit. An oversized body is still read to its end and thrown away
// (up to a hard cap), so that the client has finished sending when it gets the 413: a server that answers
// and closes while the client is still writing makes the client fail with EPIPE instead of seeing the 413
// (the reason for nginx's "lingering close").

export type BodyRead =
  | { kind: 'read'; text: string }
  /** `drained`: the whole body was consumed, so the connection can serve the next request. */
  | { kind: 'too-large'; drained: boolean };

export async function readBodyWithin(
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | undefined,
  limit: number,
  drainCap = limit * 16,
): Promise<BodyRead> {
  if (declaredLength !== undefined && declaredLength > drainCap) return { kind: 'too-large', drained: false };
  if (!body) return { kind: 'read', text: '' };
  const reader = body.getReader();
  const kept: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > drainCap) {
      void reader.cancel().catch(() => undefined);
      return { kind: 'too-large', drained: false };
    }
    if (total <= limit) kept.push(value);
  }
  if (total > limit) return { kind: 'too-large', drained: true };
  return { kind: 'read', text: Buffer.concat(kept).toString('utf8') };
}

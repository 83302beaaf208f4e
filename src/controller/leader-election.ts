// Leader election on a coordination.k8s.io/v1 Lease, ported from client-go's leaderelection: expiry is
// judged by locally observed time, updates use optimistic concurrency, and a leader that cannot renew
// within the renew deadline gives up (the process then exits rather than reconcile without the lease).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { describeApiError, isConflict, isNotFound } from '../kube/client.js';
import type { Logger } from '../log.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  onLeadershipChange?: (leading: boolean) => void;
}

export class LeaderElector {
  readonly identity: string;
  readonly #api: CoordinationV1Api;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  #observed: { holder?: string; renewTime?: string; observedAt: number } = { observedAt: 0 };
  #leading = false;
  #stopped = false;

  constructor(private readonly options: LeaderElectionOptions) {
    this.identity = options.identity ?? `${hostname()}_${randomUUID()}`;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#leaseMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryMs = options.retryPeriodMs ?? 2_000;
    if (!(this.#leaseMs > this.#renewDeadlineMs && this.#renewDeadlineMs > 1.2 * this.#retryMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > 1.2 * retryPeriod');
    }
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this process holds the lease (or rejects when stopped first). */
  async acquire(): Promise<void> {
    while (!this.#stopped) {
      if (await this.#tryAcquireOrRenew()) {
        this.#setLeading(true);
        return;
      }
      await sleep(this.#retryMs * (1 + Math.random() * 0.2));
    }
    throw new Error('leader election stopped');
  }

  /** Renews until it fails for longer than the renew deadline; resolves when leadership is lost. */
  async holdUntilLost(): Promise<void> {
    let lastRenew = Date.now();
    while (!this.#stopped) {
      await sleep(this.#retryMs);
      if (this.#stopped) return;
      if (await this.#tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.#renewDeadlineMs) {
        this.#setLeading(false);
        return;
      }
    }
  }

  /** Gives the lease up so another process can take over at once. */
  async release(): Promise<void> {
    this.#stopped = true;
    if (!this.#leading) return;
    try {
      const lease = await this.#api.readNamespacedLease({ namespace: this.options.namespace, name: this.options.name });
      if (lease.spec?.holderIdentity === this.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = new V1MicroTime();
        await this.#api.replaceNamespacedLease({ namespace: this.options.namespace, name: this.options.name, body: lease });
      }
    } catch (error) {
      this.options.log.warn({ err: describeApiError(error) }, 'could not release the leader lease');
    }
    this.#setLeading(false);
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.options.log.info(
      { identity: this.identity, lease: `${this.options.namespace}/${this.options.name}` },
      leading ? 'became leader' : 'lost leadership',
    );
    this.options.onLeadershipChange?.(leading);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.options;
    const now = new V1MicroTime();
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: Math.round(this.#leaseMs / 1000), renewTime: now };
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ namespace, name });
    } catch (error) {
      if (!isNotFound(error)) {
        this.options.log.warn({ err: describeApiError(error) }, 'cannot read the leader lease');
        return false;
      }
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } },
        });
        this.#observe(this.identity, now.toISOString());
        return true;
      } catch (createError) {
        if (!isConflict(createError)) this.options.log.warn({ err: describeApiError(createError) }, 'cannot create the leader lease');
        return false;
      }
    }
    const holder = lease.spec?.holderIdentity ?? undefined;
    const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : undefined;
    if (holder !== this.#observed.holder || renewTime !== this.#observed.renewTime) this.#observe(holder, renewTime);
    const duration = (lease.spec?.leaseDurationSeconds ?? Math.round(this.#leaseMs / 1000)) * 1000;
    // Expiry by our own clock since we last saw the record change, not by the holder's timestamps.
    const held = holder && holder !== this.identity && this.#observed.observedAt + duration > Date.now();
    if (held) return false;
    const taking = holder !== this.identity;
    lease.spec = {
      ...lease.spec,
      ...spec,
      ...(taking ? { acquireTime: now, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (holder ? 1 : 0) } : {}),
    };
    try {
      await this.#api.replaceNamespacedLease({ namespace, name, body: lease });
      this.#observe(this.identity, now.toISOString());
      return true;
    } catch (error) {
      if (!isConflict(error)) this.options.log.warn({ err: describeApiError(error) }, 'cannot update the leader lease');
      return false;
    }
  }

  #observe(holder: string | undefined, renewTime: string | undefined): void {
    this.#observed = { ...(holder ? { holder } : {}), ...(renewTime ? { renewTime } : {}), observedAt: Date.now() };
  }
}

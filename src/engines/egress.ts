// Egress policy for database hosts that come from API callers: without it, a caller can point a job at
// any address the server reaches (cloud metadata, loopback services) and read the answer's kind from the
// error, a port scanner. Every address a host resolves to is checked, and the job then connects to the
// checked address itself (pinned), so a DNS answer that changes between check and connect cannot escape.
import { AsyncLocalStorage } from 'node:async_hooks';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { StoreopError } from '../errors.js';
import type { DatabaseTarget, ServerEndpoint } from './target.js';

/** Never a database: link-local (cloud metadata lives there), the metadata addresses of other clouds, "this host". */
export const DEFAULT_DENIED_CIDRS = [
  '169.254.0.0/16',
  'fe80::/10',
  '100.100.100.200/32', // Alibaba Cloud metadata
  'fd00:ec2::254/128', // AWS metadata over IPv6
  '0.0.0.0/8', // "this host": reaches loopback on Linux, so it would bypass a loopback deny
  '::/128',
] as const;

interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

function parseCidr(raw: string): Cidr | undefined {
  const [address = '', prefixText, extra] = raw.trim().split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A comma-separated CIDR list ("10.0.0.0/8, fd00::/8"; a bare address is a /32 or /128), validated by zod. */
export const cidrList = z.string().transform((text, ctx) => {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const parsed: Cidr[] = [];
  for (const item of items) {
    const cidr = parseCidr(item);
    if (!cidr) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8, fd00::/8)` });
      return z.NEVER;
    }
    parsed.push(cidr);
  }
  return parsed;
});

function blockList(cidrs: readonly Cidr[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list;
}

/** ::ffff:169.254.169.254 is 169.254.169.254: check IPv4-mapped IPv6 addresses as the IPv4 address they are. */
function canonical(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return { address: mapped, family: 'ipv4' };
  return { address, family: isIP(address) === 4 ? 'ipv4' : 'ipv6' };
}

export interface EgressPolicyOptions {
  /** When given (non-empty), only these networks are reachable. */
  allow?: readonly Cidr[];
  /** Refused in addition to DEFAULT_DENIED_CIDRS; a deny always wins over an allow. */
  deny?: readonly Cidr[];
}

const cidrText = (c: Cidr) => `${c.address}/${c.prefix}`;

export class EgressPolicy {
  readonly #allow: BlockList | undefined;
  readonly #deny: BlockList;
  /** The networks, for the startup log. */
  readonly summary: { allow: string[] | 'any'; deny: string[] };

  constructor(options: EgressPolicyOptions = {}) {
    this.#allow = options.allow?.length ? blockList(options.allow) : undefined;
    const defaults = DEFAULT_DENIED_CIDRS.map((c) => parseCidr(c) as Cidr);
    const deny = [...defaults, ...(options.deny ?? [])];
    this.#deny = blockList(deny);
    this.summary = { allow: options.allow?.length ? options.allow.map(cidrText) : 'any', deny: deny.map(cidrText) };
  }

  /** Why an address is refused, or undefined when it may be reached. */
  refusal(address: string): string | undefined {
    const c = canonical(address);
    if (!isIP(c.address)) return 'not an IP address';
    if (this.#deny.check(c.address, c.family)) return 'in a denied network';
    if (this.#allow && !this.#allow.check(c.address, c.family)) return 'not in an allowed network';
    return undefined;
  }

  /** Resolves a host and checks every address it has; returns the address to connect to. */
  async resolve(host: string): Promise<string> {
    const name = host.replace(/^\[|\]$/g, '');
    let addresses: string[];
    try {
      addresses = isIP(name) ? [name] : (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
    } catch (error) {
      throw new StoreopError('ConnectionFailed', `egress: host ${name} does not resolve (${(error as NodeJS.ErrnoException).code})`);
    }
    if (!addresses.length) throw new StoreopError('ConnectionFailed', `egress: host ${name} has no address`);
    for (const address of addresses) {
      const why = this.refusal(address);
      if (why) throw new StoreopError('ConnectionFailed', `egress policy refuses host ${name}: its address ${address} is ${why}`);
    }
    return addresses[0] as string;
  }
}

// ---------------------------------------------------------------------------------------------------
// Pinning: a job's hosts are resolved and checked before it runs; while it runs, the drivers connect to
// the checked addresses (dialAddress). Carried in async context so the target, the tenant connection and
// what the master DB records keep the host name (and TLS verifies the certificate against it).

interface Pins {
  addresses: Map<string, string>;
  refused: Map<string, StoreopError>;
}

const pinned = new AsyncLocalStorage<Pins>();

function endpointsOf(target: DatabaseTarget): ServerEndpoint[] {
  if (target.engine === 'pglite') return [];
  if (target.engine === 'supabase' || target.mode === 'connect') return [target.connection];
  return [target.admin];
}

/** Hosts a target makes provisioning connect to: its endpoint, and where the store's own role logs in. */
export function hostsOf(target: DatabaseTarget): string[] {
  const hosts = endpointsOf(target).map((e) => e.host);
  if (target.engine !== 'pglite' && target.engine !== 'supabase' && target.mode === 'create' && target.publicHost)
    hosts.push(target.publicHost);
  return [...new Set(hosts)];
}

/**
 * Runs `fn` with the target's hosts checked against the policy and pinned. A refused host does not throw
 * here: connecting to it does, inside the job, so the job fails the way any unreachable server does.
 */
export async function withEgressPolicy<T>(policy: EgressPolicy, target: DatabaseTarget, fn: () => Promise<T>): Promise<T> {
  const pins: Pins = { addresses: new Map(), refused: new Map() };
  for (const host of hostsOf(target)) {
    try {
      pins.addresses.set(host, await policy.resolve(host));
    } catch (error) {
      pins.refused.set(host, error as StoreopError);
    }
  }
  return pinned.run(pins, fn);
}

/**
 * The address a driver should connect to for `host`: the pinned one inside withEgressPolicy (throws for a
 * refused or unchecked host), the host itself elsewhere (manifests and the CLI have no egress policy).
 */
export function dialAddress(host: string): string {
  const pins = pinned.getStore();
  if (!pins) return host;
  const refused = pins.refused.get(host);
  if (refused) throw refused;
  const address = pins.addresses.get(host);
  if (!address) throw new StoreopError('ConnectionFailed', `egress: host ${host} was not checked against the egress policy`);
  return address;
}

export const GENERIC_CONNECTION_ERROR = 'ConnectionFailed: could not connect to the database server';

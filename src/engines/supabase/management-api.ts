// A small client for the Supabase Management API (checked against its OpenAPI spec of 2026-05): projects,
// their API keys and health. It honours 429 with Retry-After, backs off on 5xx, never retries a project
// creation blindly, and never puts the access token in an error.
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreopError } from '../../errors.js';

export const DEFAULT_SUPABASE_API_URL = 'https://api.supabase.com';

export interface SupabaseProject {
  id?: string;
  ref: string;
  name: string;
  organization_id?: string;
  organization_slug?: string;
  region?: string;
  status: string;
  created_at?: string;
  database?: { host?: string; version?: string };
}

export interface SupabaseApiKey {
  name: string;
  type?: 'legacy' | 'publishable' | 'secret' | null;
  api_key: string;
}

export type RegionSelection = { type: 'specific'; code: string } | { type: 'smartGroup'; code: 'americas' | 'emea' | 'apac' };

export interface ManagementApiOptions {
  baseUrl?: string;
  token: string;
  /** Attempts for one request through 429s and 5xx (default 6). */
  maxAttempts?: number;
  /** Cap on one wait for a rate limit or backoff (default 60 s). */
  maxWaitMs?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ManagementApi {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #maxAttempts: number;
  readonly #maxWaitMs: number;

  constructor(options: ManagementApiOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_SUPABASE_API_URL).replace(/\/+$/, '');
    this.#token = options.token;
    this.#maxAttempts = options.maxAttempts ?? 6;
    this.#maxWaitMs = options.maxWaitMs ?? 60_000;
  }

  listProjects(): Promise<SupabaseProject[]> {
    return this.#request<SupabaseProject[]>('GET', '/v1/projects');
  }

  async getProject(ref: string): Promise<SupabaseProject | undefined> {
    try {
      return await this.#request<SupabaseProject>('GET', `/v1/projects/${encodeURIComponent(ref)}`);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw this.#typed(error, `reading project ${ref}`);
    }
  }

  /** One attempt only on errors that leave it unknown whether the project was created (5xx, network). */
  createProject(body: { name: string; organizationSlug: string; dbPass: string; region: RegionSelection }): Promise<SupabaseProject> {
    return this.#request<SupabaseProject>(
      'POST',
      '/v1/projects',
      { name: body.name, organization_slug: body.organizationSlug, db_pass: body.dbPass, region_selection: body.region },
      { retryServerErrors: false },
    );
  }

  apiKeys(ref: string): Promise<SupabaseApiKey[]> {
    return this.#request<SupabaseApiKey[]>('GET', `/v1/projects/${encodeURIComponent(ref)}/api-keys?reveal=true`);
  }

  async deleteProject(ref: string): Promise<void> {
    try {
      await this.#request('DELETE', `/v1/projects/${encodeURIComponent(ref)}`);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return; // already gone
      throw this.#typed(error, `deleting project ${ref}`);
    }
  }

  async #request<T>(method: string, path: string, body?: unknown, options: { retryServerErrors?: boolean } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.#token}`,
            accept: 'application/json',
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        if (options.retryServerErrors !== false && attempt < this.#maxAttempts) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw new StoreopError(
          'ConnectionFailed',
          `Supabase Management API at ${this.baseUrl} is unreachable: ${(error as Error).message}`,
        );
      }
      if (response.ok) {
        const text = await response.text();
        return (text ? JSON.parse(text) : undefined) as T;
      }
      const message = await this.#errorMessage(response);
      if (response.status === 401 || response.status === 403) {
        throw new StoreopError('AuthenticationFailed', `Supabase Management API refused the access token (HTTP ${response.status})`, {
          retryable: true,
        });
      }
      if (response.status === 429 && attempt < this.#maxAttempts) {
        await sleep(this.#retryAfter(response, attempt));
        continue;
      }
      if (response.status >= 500 && options.retryServerErrors !== false && attempt < this.#maxAttempts) {
        await sleep(this.#backoff(attempt));
        continue;
      }
      if (response.status === 404) throw new HttpError(404, message);
      throw this.#typed(new HttpError(response.status, message), `${method} ${path.split('?')[0]}`);
    }
  }

  #typed(error: unknown, doing: string): StoreopError {
    if (error instanceof StoreopError) return error;
    if (error instanceof HttpError) {
      const code = error.status === 429 ? 'LockTimeout' : error.status >= 400 && error.status < 500 ? 'InvalidSpec' : 'ProvisioningFailed';
      return new StoreopError(code, `Supabase Management API ${doing}: HTTP ${error.status}: ${error.message}`, {
        retryable: code !== 'InvalidSpec',
      });
    }
    return new StoreopError('ProvisioningFailed', `Supabase Management API ${doing}: ${(error as Error).message}`);
  }

  async #errorMessage(response: Response): Promise<string> {
    const text = await response.text().catch(() => '');
    try {
      const body = JSON.parse(text) as { message?: unknown; error?: unknown };
      const message = typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : text;
      return message.split(this.#token).join('***').slice(0, 500);
    } catch {
      return text.split(this.#token).join('***').slice(0, 500) || response.statusText;
    }
  }

  /** Retry-After (seconds or an HTTP date), else X-RateLimit-Reset, else backoff; capped. */
  #retryAfter(response: Response, attempt: number): number {
    const header = response.headers.get('retry-after');
    let ms: number | undefined;
    if (header) ms = /^\d+$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
    const reset = response.headers.get('x-ratelimit-reset');
    if (ms === undefined && reset && /^\d+$/.test(reset)) {
      const value = Number(reset);
      ms = value > 1e9 ? value * 1000 - Date.now() : value * 1000;
    }
    return Math.min(Math.max(ms ?? this.#backoff(attempt), 0), this.#maxWaitMs);
  }

  #backoff(attempt: number): number {
    return Math.min(250 * 2 ** (attempt - 1) + Math.random() * 100, this.#maxWaitMs);
  }
}

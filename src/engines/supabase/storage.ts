// The store's media bucket in Supabase Storage, through supabase-js with the service-role key.
// Idempotent: an existing bucket is fine.
import { StoreopError } from '../../errors.js';

export async function ensureMediaBucket(projectUrl: string, serviceRoleKey: string, bucket: string): Promise<'created' | 'exists'> {
  // Loaded on first use: supabase-js (auth, realtime, storage clients) is large and only Supabase stores need it.
  const { createClient } = await import('@supabase/supabase-js');
  const client = createClient(projectUrl, serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false } });
  const existing = await client.storage.getBucket(bucket);
  if (existing.data) return 'exists';
  const { error } = await client.storage.createBucket(bucket, {
    public: false,
    fileSizeLimit: '50MB',
    allowedMimeTypes: ['image/*', 'video/*', 'application/pdf'],
  });
  if (!error) return 'created';
  const status = Number((error as { statusCode?: string | number; status?: number }).statusCode ?? (error as { status?: number }).status);
  if (status === 409 || /already exists|duplicate/i.test(error.message)) return 'exists';
  throw new StoreopError(
    'ProvisioningFailed',
    `could not create the Supabase Storage bucket ${bucket}: ${error.message.split(serviceRoleKey).join('***')}`,
  );
}

// What API callers learn about a failed job. Whether a server refused, timed out, answered in another
// protocol, declined TLS or was refused by the egress policy would let a caller map the server's network
// (a port scanner): all of them read "could not connect". The job row and the server log keep the detail.
import { GENERIC_CONNECTION_ERROR } from '../engines/egress.js';
import type { JobRow } from '../master/jobs.js';

/** Failures before the server has answered as a database (bad credentials still say so: the caller owns them). */
function isConnectionFailure(job: Pick<JobRow, 'error_code' | 'step'>): boolean {
  if (job.error_code === 'ConnectionFailed') return true;
  // A peer that is no database server (it answers, then hangs up) reads as a lost connection at this step.
  return (job.error_code === 'ProvisioningFailed' || job.error_code === 'ConnectionLost') && job.step === 'testConnection';
}

export function publicJobError(job: Pick<JobRow, 'error' | 'error_code' | 'step'>): string | null {
  if (job.error === null) return null;
  return isConnectionFailure(job) ? GENERIC_CONNECTION_ERROR : job.error;
}

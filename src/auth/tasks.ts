// Worker tasks for authentication: password hashing is CPU work and never runs on the event loop.
// Run through the host's pool with `verifyTask` (src/auth/task-refs.ts).
import { verifyPassword } from './passwords.js';

export interface VerifyInput {
  plain: string;
  stored: string;
}

/** Whether the password matches the stored value (any supported scheme). */
export function verify(input: VerifyInput): Promise<boolean> {
  return verifyPassword(input.plain, input.stored);
}

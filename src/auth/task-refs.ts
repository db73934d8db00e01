// References to the auth worker tasks, kept apart from tasks.ts so the event-loop side never
// loads the hashing libraries.
import { type TaskRef, task } from '../api.js';

/** `verify({ plain, stored }) → boolean`, see tasks.ts. */
export const verifyTask: TaskRef = task(new URL('./tasks.js', import.meta.url), 'verify');

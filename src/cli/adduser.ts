// `host adduser [--personality DIR] ADDRESS PASSWORD [MAILDIR]`: add a mailbox row (or change its
// password) in the pop3 module's database, and create its Maildir. Prints what it did, never the
// password. PASSWORD `-` reads it from standard input instead (keeps it out of `ps`).
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { underRoot } from '../auth/maildrop.js';
import { hashPassword } from '../auth/passwords.js';
import { isHostError } from '../errors.js';
import { withPersonality } from '../host/offline.js';
import { parsePersonalityArgs } from './personality-args.js';

const EX_USAGE = 64;
const EX_DATAERR = 65;
const EX_CONFIG = 78;
const EX_TEMPFAIL = 75;

const USAGE = `usage: host adduser [--personality DIR] ADDRESS PASSWORD [MAILDIR]

Adds ADDRESS to the mailbox table of the pop3 module's database (option \`database\`, else
\`default\`) with PASSWORD stored as {SHA512-CRYPT}, or sets a new password when ADDRESS exists.
MAILDIR (default ADDRESS/Maildir for a new address; an existing one keeps its maildrop) is relative
to the pop3 module's maildir_root, or absolute under it; its cur/ new/ tmp/ are created if missing
(owned like maildir_root when run as root). PASSWORD - reads the password from standard input.
DIR defaults to $SERVER_PERSONALITY_PATH, else ./personality.
`;

interface Args {
  dir: string;
  address: string;
  password: string;
  maildir?: string;
}

function parseArgs(argv: readonly string[]): Args | string {
  const parsed = parsePersonalityArgs(argv, { endOfOptions: true });
  if (typeof parsed === 'string') return parsed;
  const { dir, operands: rest } = parsed;
  if (rest.length < 2 || rest.length > 3) return 'ADDRESS and PASSWORD are needed (and at most a MAILDIR)';
  const [address, password, maildir] = rest;
  if (address === '' || /[\s/\\\0]/.test(address) || address.startsWith('.')) {
    return `"${address}" is not a usable address (no spaces, slashes, or leading dot)`;
  }
  if (password === '') return 'the password may not be empty';
  return { dir, address, password, maildir };
}

async function readPassword(stdin: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

/** Creates each missing directory from root down to `dir`, then cur/ new/ tmp/; returns those made. */
function makeMaildir(root: string, dir: string): string[] {
  const made: string[] = [];
  const mk = (p: string) => {
    if (existsSync(p)) return;
    mkdirSync(p, { mode: 0o700 });
    made.push(p);
  };
  if (!existsSync(root)) mkdirSync(root, { recursive: true, mode: 0o755 });
  let p = root;
  for (const part of relative(root, dir).split(sep).filter(Boolean)) {
    p = join(p, part);
    mk(p);
  }
  for (const sub of ['cur', 'new', 'tmp']) mk(join(dir, sub));
  return made;
}

export async function runAdduser(argv: string[], stdin: Readable = process.stdin): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    (args ? process.stderr : process.stdout).write(args ? `host adduser: ${args}\n${USAGE}` : USAGE);
    return args ? EX_USAGE : 0;
  }
  const password = args.password === '-' ? await readPassword(stdin) : args.password;
  if (password === '') {
    process.stderr.write('host adduser: the password may not be empty\n');
    return EX_USAGE;
  }

  try {
    return await withPersonality(args.dir, async (p) => {
      const pop3 = p.moduleOptions('pop3');
      const root = pop3?.maildir_root;
      if (typeof root !== 'string' || !isAbsolute(root)) {
        process.stderr.write(`host adduser: ${p.dir} has no pop3 module with maildir_root\n`);
        return EX_CONFIG;
      }
      const db = p.database(typeof pop3?.database === 'string' ? pop3.database : 'default');

      const existing = await db.query<{ maildrop: unknown }>(
        'SELECT maildrop FROM mailbox WHERE address = ?',
        [args.address],
      );
      const current = existing[0] ? String(existing[0].maildrop) : undefined;
      const maildrop = args.maildir ?? current ?? `${args.address}/Maildir`;
      const abs = underRoot(root, maildrop);
      if (abs === null) {
        process.stderr.write(`host adduser: maildir "${maildrop}" is outside maildir_root ${root}\n`);
        return EX_DATAERR;
      }

      const stored = await hashPassword(password, 'SHA512-CRYPT');
      if (current === undefined) {
        await db.execute('INSERT INTO mailbox (address, password, maildrop, active) VALUES (?, ?, ?, 1)', [
          args.address,
          stored,
          maildrop,
        ]);
      } else {
        await db.execute('UPDATE mailbox SET password = ?, maildrop = ? WHERE address = ?', [
          stored,
          maildrop,
          args.address,
        ]);
      }

      const made = makeMaildir(root, abs);
      if (made.length > 0 && process.getuid?.() === 0) {
        // The server runs as its own user: give it what we made, as it owns maildir_root.
        const owner = statSync(root);
        for (const d of made) chownSync(d, owner.uid, owner.gid);
      }

      const verb = current === undefined ? 'added' : 'updated';
      process.stdout.write(
        `${verb} ${args.address} in database ${db.id}: password {SHA512-CRYPT}, maildrop ${maildrop}\n` +
          (made.length > 0 ? `created Maildir ${abs}\n` : `Maildir ${abs} exists\n`),
      );
      return 0;
    });
  } catch (e) {
    if (isHostError(e, 'DB_UNAVAILABLE')) {
      process.stderr.write(`host adduser: ${e.message}\n`);
      return EX_TEMPFAIL;
    }
    if (isHostError(e)) {
      process.stderr.write(`host adduser: ${e.message}\n`);
      return EX_CONFIG;
    }
    throw e;
  }
}

// `host deliver [--personality DIR] RECIPIENT < message`: the delivery routine as a command, for
// Postfix's mailbox_command or procmail. Exit codes from sysexits.h, which Postfix maps to bounce
// (67) or retry (75); the reason is one line on stderr.
import type { Readable } from 'node:stream';
import type { Database } from '../api.js';
import { parsePersonalityArgs } from '../cli/personality-args.js';
import { withPersonality } from '../host/offline.js';
import { MaildirDelivery } from './deliver.js';
import { DEFAULT_DELIVERY_QUERY, type LookupConfig, lookupRecipient } from './lookup.js';

export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_NOUSER = 67;
export const EX_UNAVAILABLE = 69;
export const EX_TEMPFAIL = 75;

const USAGE = `usage: host deliver [--personality DIR] RECIPIENT < message

Delivers the message on standard input into RECIPIENT's Maildir, found with the lmtp module's
delivery_query_format_string (or, without an [lmtp] section, the pop3 module's database and
maildir_root with the query: ${DEFAULT_DELIVERY_QUERY}).
DIR defaults to $SERVER_PERSONALITY_PATH, else ./personality.
Exit: 0 delivered, 67 no such user, 75 temporary failure (retry), 64 usage.
`;

interface Args {
  dir: string;
  recipient: string;
}

function parseArgs(argv: readonly string[]): Args | string {
  const parsed = parsePersonalityArgs(argv, { endOfOptions: false });
  if (typeof parsed === 'string') return parsed;
  const { dir, operands: rest } = parsed;
  if (rest.length !== 1 || rest[0] === '') return 'exactly one RECIPIENT is needed';
  return { dir, recipient: rest[0] };
}

interface Settings extends LookupConfig {
  database: string;
  createMaildir: boolean;
}

/** The lmtp section, else the pop3 module's database and maildir_root with the default query. */
function settingsFrom(
  options: (name: string) => Readonly<Record<string, unknown>> | undefined,
): Settings | string {
  const lmtp = options('lmtp');
  if (lmtp) {
    return {
      query: String(lmtp.delivery_query_format_string ?? DEFAULT_DELIVERY_QUERY),
      maildirRoot: String(lmtp.maildir_root),
      database: String(lmtp.database ?? 'default'),
      createMaildir: lmtp.create_maildir === true,
    };
  }
  const pop3 = options('pop3');
  if (pop3 && typeof pop3.maildir_root === 'string') {
    return {
      query: DEFAULT_DELIVERY_QUERY,
      maildirRoot: pop3.maildir_root,
      database: String(pop3.database ?? 'default'),
      createMaildir: false,
    };
  }
  return 'the personality has neither an lmtp module nor a pop3 module with maildir_root';
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Standard input → delivery: any line ends (CRLF, LF) become LF, trailing CRs dropped, a leading
 * mbox `From ` envelope line (procmail, Postfix's local) removed. Pieces are appended as they
 * arrive, so a long message (or a long line) never sits in memory.
 */
export async function feedStream(d: MaildirDelivery, input: Readable | AsyncIterable<Buffer>): Promise<void> {
  let head: Buffer | null = Buffer.alloc(0); // until we know whether line 1 is a From_ line
  let skipping = false;
  let crs = 0; // CRs at a chunk's end: line-final (dropped) or not (kept), decided by what follows
  const pendingCrs = async () => {
    if (crs > 0) await d.append(Buffer.alloc(crs, CR), false);
    crs = 0;
  };
  const take = async (chunk: Buffer) => {
    let pos = 0;
    if (skipping) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) return;
      skipping = false;
      pos = lf + 1;
    }
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      const stop = lf < 0 ? chunk.length : lf;
      let e = stop;
      while (e > pos && chunk[e - 1] === CR) e--;
      if (e > pos) await pendingCrs();
      if (lf >= 0) {
        crs = 0;
        await d.append(chunk.subarray(pos, e), true);
        pos = lf + 1;
      } else {
        if (e > pos) await d.append(chunk.subarray(pos, e), false);
        crs += stop - e;
        pos = chunk.length;
      }
    }
  };
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
    if (head !== null) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 5 && head.indexOf(LF) < 0) continue;
      skipping = head.subarray(0, 5).toString('latin1') === 'From ';
      const first = head;
      head = null;
      await take(first);
      continue;
    }
    await take(chunk);
  }
  if (head !== null && head.length > 0) await take(head);
}

function fail(recipient: string, code: number, reason: string): number {
  process.stderr.write(`host deliver: ${recipient}: ${reason.replace(/\s+/g, ' ')}\n`);
  return code;
}

export async function runDeliver(argv: string[], stdin: Readable = process.stdin): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    if (args === '') {
      process.stdout.write(USAGE);
      return EX_OK;
    }
    process.stderr.write(`host deliver: ${args}\n${USAGE}`);
    return EX_USAGE;
  }
  const { recipient } = args;
  try {
    return await withPersonality(args.dir, async (p) => {
      const settings = settingsFrom(p.moduleOptions);
      if (typeof settings === 'string') return fail(recipient, EX_TEMPFAIL, settings);
      let db: Database;
      try {
        db = p.database(settings.database);
      } catch (e) {
        return fail(recipient, EX_TEMPFAIL, (e as Error).message);
      }
      const found = await lookupRecipient(db, settings, recipient);
      if (!found.ok) {
        if (found.reason === 'unknown') return fail(recipient, EX_NOUSER, 'no such user (5.1.1)');
        return fail(recipient, EX_TEMPFAIL, `lookup failed, try again later (4.3.0): ${found.detail}`);
      }
      const session = { delays: 0 };
      const d = new MaildirDelivery([{ address: recipient, maildir: found.maildir }], {
        workers: p.workers,
        session,
        createMaildir: settings.createMaildir,
      });
      try {
        await feedStream(d, stdin);
      } catch (e) {
        await d.abort();
        return fail(recipient, EX_TEMPFAIL, `reading the message failed: ${(e as Error).message}`);
      }
      const [out] = await d.finish();
      if (!out.ok) {
        const f = out.failure;
        return fail(
          recipient,
          f.kind === 'permanent' ? EX_UNAVAILABLE : EX_TEMPFAIL,
          `${f.reason} (${f.status})`,
        );
      }
      p.log.info({ recipient, path: out.path, size: d.crlfSize, delays: session.delays }, 'delivered');
      return EX_OK;
    });
  } catch (e) {
    // The personality could not be opened (bad c11n, module failing to load): retry later.
    return fail(recipient, EX_TEMPFAIL, (e as Error).message);
  }
}

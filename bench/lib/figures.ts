// One function per figure of issue 6: each drives one server and returns what it measured, with
// how busy the machine was meanwhile (the machine is shared: ratios matter, absolutes move).
import { readFileSync } from 'node:fs';
import { files } from './paths.js';
import { type StepTimes, timeSession } from './pop3client.js';
import { type PopResult, popload } from './popload.js';
import { type CpuUse, cpuMark, cpuUse, type Memory, memory } from './proc.js';
import type { Target } from './target.js';

export interface Measured {
  value: number;
  /** Other numbers worth quoting next to the value (p99, errors, breakdowns). */
  detail: Record<string, number | string>;
  cpu: CpuUse;
}

async function measured(
  t: Target,
  port: number,
  args: readonly string[],
  limitMs: number,
  onLine?: (l: string) => void,
): Promise<{ r: PopResult; cpu: CpuUse; why: Record<string, string> }> {
  const a = cpuMark(t.pids());
  const { result, failures } = await popload(port, args, limitMs, onLine);
  const cpu = cpuUse(a, cpuMark(t.pids()));
  // The distinct failures (most often first), so an error count comes with its reason.
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f, (counts.get(f) ?? 0) + 1);
  const top = [...counts].sort((x, y) => y[1] - x[1]).slice(0, 3);
  const why: Record<string, string> = top.length
    ? { failures: top.map(([f, n]) => `${n}× ${f}`).join('; ') }
    : {};
  return { r: result, cpu, why };
}

function firstUser(set: string): { user: string; pass: string } {
  const line = readFileSync(files.users(set), 'utf8').split('\n')[0] ?? '';
  const i = line.indexOf(':');
  return { user: line.slice(0, i), pass: line.slice(i + 1) };
}

function userCount(set: string): number {
  return readFileSync(files.users(set), 'utf8').split('\n').filter(Boolean).length;
}

/**
 * One session per user of the set, so every mailbox is opened (new/ moved, caches built) once;
 * then `steadySeconds` of the session load itself, so what is measured is a server that has been
 * running (ours: its hot code compiled by V8, which otherwise takes 5-10 s of this load and
 * lowered the first 5 s round by 10-25 %).
 */
export async function warmUp(t: Target, set: string, steadySeconds = 5): Promise<PopResult> {
  const load = ['--users', files.users(set), '--mode', 'session', '-c', '50'];
  const n = userCount(set);
  const { result } = await popload(
    t.port,
    [...load, '--max-sessions', String(n), '--seconds', '120'],
    150_000,
  );
  if (steadySeconds > 0) {
    await popload(t.port, [...load, '--seconds', String(steadySeconds)], (steadySeconds + 20) * 1000);
  }
  return result;
}

/** Best case: connect, USER, PASS, STAT, UIDL, QUIT on unchanged mailboxes. Value: sessions/s. */
export async function sessionRate(t: Target, set: string, conc: number, seconds: number): Promise<Measured> {
  const { r, cpu, why } = await measured(
    t,
    t.port,
    ['--users', files.users(set), '--mode', 'session', '-c', String(conc), '--seconds', String(seconds)],
    (seconds + 20) * 1000,
  );
  return {
    value: r.sessions_per_s ?? 0,
    detail: {
      p50_ms: r.p50_ms ?? 0,
      p99_ms: r.p99_ms ?? 0,
      sessions: r.sessions ?? 0,
      errors: r.errors ?? 0,
      ...why,
    },
    cpu,
  };
}

/**
 * RETR of every message of one user in one session, repeated. Value: RETR/s (bulk) or MB/s (big).
 * Also the server's peak RSS above its level before the run (memory flat in message size).
 */
export async function retr(t: Target, user: 'bulk' | 'big' | 'huge', seconds: number): Promise<Measured> {
  const before = memory(t.pids());
  let peak = before.rssKb;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memory(t.pids()).rssKb);
  }, 100);
  try {
    const { r, cpu, why } = await measured(
      t,
      t.port,
      [
        '--users',
        files.users(user),
        '--only-user',
        user,
        '--mode',
        'retr',
        '-c',
        '1',
        '--seconds',
        String(seconds),
      ],
      (seconds + 20) * 1000,
    );
    return {
      value: user === 'bulk' ? (r.retr_per_s ?? 0) : (r.mb_per_s ?? 0),
      detail: {
        retr_per_s: r.retr_per_s ?? 0,
        mb_per_s: r.mb_per_s ?? 0,
        sessions: r.sessions ?? 0,
        errors: r.errors ?? 0,
        rss_before_kb: before.rssKb,
        rss_peak_growth_kb: peak - before.rssKb,
        ...why,
      },
      cpu,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** K logged-in idle sessions held for `hold` s, then NOOP. Value: KB of PSS per session. */
export async function idle(t: Target, set: string, conns: number, hold: number): Promise<Measured> {
  await new Promise((r) => setTimeout(r, 1000));
  const before = memory(t.pids());
  // Memory is sampled every second of the hold: the value is the last sample (steady state, after
  // the collector has had time to drop the logins' garbage); the first and largest are kept too.
  const samples: Memory[] = [];
  let sampling: Promise<void> | undefined;
  const { r, cpu, why } = await measured(
    t,
    t.port,
    [
      '--users',
      files.users(set),
      '--mode',
      'idle',
      '--conns',
      String(conns),
      '--hold',
      String(hold),
      '--ramp',
      '100',
      '--setup-timeout',
      '120',
    ],
    (hold + 160) * 1000,
    (line) => {
      // "idle: N/K logged in after S s; holding T s": all logged in, now holding.
      if (line.includes('logged in after') && !sampling) {
        const end = performance.now() + hold * 1000 - 700;
        sampling = new Promise((resolve) => {
          const tick = () => {
            samples.push(memory(t.pids()));
            if (performance.now() + 1000 < end) setTimeout(tick, 1000);
            else resolve();
          };
          setTimeout(tick, Math.min(1000, hold * 500));
        });
      }
    },
  );
  await sampling;
  const logged = r.logged_in ?? 0;
  const d = samples[samples.length - 1] ?? before;
  const per = (kb: number) => (logged > 0 ? Math.round(((kb - before.rssKb) / logged) * 10) / 10 : 0);
  return {
    // PSS splits shared pages among processes: Dovecot's one-process-per-session RSS would count
    // its libraries once per session. For one host process, PSS and RSS grow alike.
    value: logged > 0 ? (d.pssKb - before.pssKb) / logged : Number.NaN,
    detail: {
      conns,
      logged_in: logged,
      answered_noop: r.alive ?? 0,
      setup_s: r.setup_s ?? 0,
      errors: r.errors ?? 0,
      procs_during: d.procs,
      rss_before_kb: before.rssKb,
      rss_during_kb: d.rssKb,
      rss_per_session_kb: per(d.rssKb),
      rss_per_session_first_kb: per(samples[0]?.rssKb ?? before.rssKb),
      rss_per_session_max_kb: per(Math.max(...samples.map((m) => m.rssKb), before.rssKb)),
      samples: samples.length,
      ...why,
    },
    cpu,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function checkListing(st: StepTimes): void {
  if (st.messages !== 100_000 || st.uidlLines !== 100_000) {
    throw new Error(`scale: STAT said ${st.messages}, UIDL listed ${st.uidlLines} (expected 100000)`);
  }
}

/** STAT+UIDL on the 100,000-message Maildir. Values: median ms for first open and cached re-open. */
export async function scale(t: Target, trials: number): Promise<{ first: Measured; cached: Measured }> {
  const scaleUser = firstUser('scale');
  const small = firstUser('s14');
  const firsts: StepTimes[] = [];
  const firstCpu: CpuUse[] = [];
  let reset: { movedBack: number; removed: string[] } = { movedBack: 0, removed: [] };
  for (let i = 0; i < trials; i++) {
    reset = await t.resetScale();
    await timeSession(t.port, small.user, small.pass, 30_000); // a warm server, cold mailbox
    // Marks around the timed session only: a restarted host's ticks would land in the runner's.
    const a = cpuMark(t.pids());
    const st = await timeSession(t.port, scaleUser.user, scaleUser.pass);
    firstCpu.push(cpuUse(a, cpuMark(t.pids())));
    checkListing(st);
    firsts.push(st);
  }
  const b = cpuMark(t.pids());
  const cached: StepTimes[] = [];
  for (let i = 0; i < trials; i++) {
    const st = await timeSession(t.port, scaleUser.user, scaleUser.pass);
    checkListing(st);
    cached.push(st);
  }
  const cpuCached = cpuUse(b, cpuMark(t.pids()));
  const mean = (k: keyof CpuUse) => firstCpu.reduce((acc, c) => acc + c[k], 0) / firstCpu.length;
  const cpuFirst: CpuUse = {
    machine: mean('machine'),
    server: mean('server'),
    client: mean('client'),
    others: mean('others'),
    cores: firstCpu[0]?.cores ?? 1,
    load1: firstCpu[0]?.load1 ?? 0,
  };
  const summary = (xs: StepTimes[]) => ({
    trials: xs.length,
    min_ms: Math.round(Math.min(...xs.map((x) => x.totalMs))),
    max_ms: Math.round(Math.max(...xs.map((x) => x.totalMs))),
    pass_ms: Math.round(median(xs.map((x) => x.passMs))),
    stat_ms: Math.round(median(xs.map((x) => x.statMs))),
    uidl_ms: Math.round(median(xs.map((x) => x.uidlMs))),
  });
  return {
    first: {
      value: median(firsts.map((x) => x.totalMs)),
      detail: {
        ...summary(firsts),
        reset_moved_back: reset.movedBack,
        reset_removed: reset.removed.join(' '),
      },
      cpu: cpuFirst,
    },
    cached: { value: median(cached.map((x) => x.totalMs)), detail: summary(cached), cpu: cpuCached },
  };
}

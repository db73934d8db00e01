// `npm run bench`: issue 6's figures for our POP3 host and, in the same run, for a private Dovecot
// on an identical copy of the corpus. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCeiling } from './lib/ceiling.js';
import { dovecotInstalled, dovecotVersion, startDovecot } from './lib/dovecot.js';
import { idle, type Measured, retr, scale, sessionRate, warmUp } from './lib/figures.js';
import { type Ours, oursBuilt, startOurs } from './lib/ours.js';
import { compiled, files, work } from './lib/paths.js';
import { loadAvg } from './lib/proc.js';
import { type CeilingRow, ceilingMarkdown, markdown, type Row } from './lib/report.js';
import type { Side, Target } from './lib/target.js';

const FIGURES = ['session', 'retr', 'idle', 'scale', 'ceiling', 'procs'] as const;
type Figure = (typeof FIGURES)[number];

const { values: args } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    target: { type: 'string', default: 'both' },
    only: { type: 'string' },
    port: { type: 'string', default: '12110' },
    'dovecot-port': { type: 'string', default: '12210' },
    'ceiling-port': { type: 'string', default: '12198' },
    'pop3-option': { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench -- [--full] [--target both|ours|dovecot] [--only ${FIGURES.join(',')}]
    [--port 12110] [--dovecot-port 12210] [--ceiling-port 12198] [--rounds 3]
    [--pop3-option key=value ...] [--cpu-prof]
Quick by default (5 s per load run, 2,000 idle sessions held 5 s, 3 scale trials);
--full: 20 s session runs, 10 s RETR runs, idle also at 10,000 and 16,000 sessions held 30 s,
5 scale trials. Load runs alternate the servers for --rounds rounds and keep each one's median.
ceiling: the session and small-RETR loads on Dovecot, ours and two servers that answer from memory
(bench/ceiling.mjs on --ceiling-port + 1, bench/ceiling-epoll.c on --ceiling-port), alternated.
`);
  process.exit(0);
}

const full = args.full;
const only = new Set<Figure>(
  args.only ? (args.only.split(',').map((s) => s.trim()) as Figure[]) : [...FIGURES],
);
for (const f of only) if (!FIGURES.includes(f)) throw new Error(`--only: unknown figure ${f}`);
const secs = full ? 20 : 5;
const retrSecs = full ? 10 : 5;
const hold = full ? 30 : 5;
const trials = full ? 5 : 3;
const nRounds = Math.max(1, Number(args.rounds ?? 3));

function log(msg: string): void {
  const [l1] = loadAvg();
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)} load ${l1.toFixed(2)}] ${msg}\n`);
}

function brief(m: Measured): string {
  const d = Object.entries(m.detail)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const c = m.cpu;
  return `${m.value.toFixed(2)}  ${d}  [cpu: server ${c.server.toFixed(2)} client ${c.client.toFixed(2)} others ${c.others.toFixed(2)} of ${c.cores}]`;
}

async function main(): Promise<void> {
  if (!existsSync(files.ready) || !existsSync(files.users('huge'))) {
    log('bench/work is not set up: running bench/setup.sh (about a minute)');
    execFileSync('bash', [files.setup], { stdio: 'inherit' });
  }
  const wanted: Side[] = args.target === 'both' ? ['dovecot', 'ours'] : [args.target as Side];
  const targets: Target[] = [];
  const notes: string[] = [];
  if (wanted.includes('dovecot')) {
    if (dovecotInstalled()) {
      log('starting Dovecot');
      targets.push(await startDovecot(Number(args['dovecot-port'])));
      notes.push(`Dovecot ${await dovecotVersion()}`);
    } else notes.push('Dovecot not installed (apt-get install -y dovecot-core dovecot-pop3d): ours only');
  }
  const profDir = join(work, 'prof');
  const oursOpts = {
    port: Number(args.port),
    processes: 1,
    pop3Extra: args['pop3-option'] ?? [],
    nodeArgs: args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  };
  if (args['cpu-prof'])
    notes.push(`ours ran with --cpu-prof: profiles in ${profDir} (node bench/profile-top.mjs FILE)`);
  let ours: Ours | undefined;
  if (wanted.includes('ours')) {
    if (!oursBuilt()) notes.push(`ours not built (${compiled.mainJs} or ${compiled.pop3Module} missing)`);
    else {
      try {
        log('starting ours');
        ours = await startOurs(oursOpts);
        targets.push(ours);
      } catch (e) {
        notes.push(`ours did not start: ${(e as Error).message.split('\n')[0]}`);
        log(`ours did not start: ${(e as Error).message}`);
      }
    }
  }
  if (targets.length === 0) throw new Error(`nothing to measure: ${notes.join('; ')}`);

  const rows: Row[] = [];
  const results: Record<string, Partial<Record<Side, Measured>>> = {};
  const record = (key: string, side: Side, m: Measured) => {
    results[key] = { ...results[key], [side]: m };
    log(`${side.padEnd(7)} ${key}: ${brief(m)}`);
  };
  const each = async (key: string, fn: (t: Target) => Promise<Measured>) => {
    for (const t of targets) {
      try {
        record(key, t.name, await fn(t));
      } catch (e) {
        log(`${t.name} ${key} FAILED: ${(e as Error).message}`);
      }
    }
  };

  // Load figures alternate the servers round by round and keep each one's median run, so a burst
  // of other work on this shared machine hits both sides alike and one bad run does not decide.
  const rounds = async (key: string, ts: readonly Target[], fn: (t: Target) => Promise<Measured>) => {
    const runs = new Map<Side, Measured[]>();
    for (let i = 0; i < nRounds; i++) {
      for (const t of ts) {
        try {
          const m = await fn(t);
          log(`${t.name.padEnd(7)} ${key} round ${i + 1}: ${brief(m)}`);
          runs.set(t.name, [...(runs.get(t.name) ?? []), m]);
        } catch (e) {
          log(`${t.name} ${key} FAILED: ${(e as Error).message}`);
        }
      }
    }
    for (const [side, ms] of runs) {
      const sorted = [...ms].sort((a, b) => a.value - b.value);
      const med = sorted[(sorted.length - 1) >> 1] as Measured;
      record(key, side, {
        ...med,
        detail: { ...med.detail, rounds: ms.map((m) => m.value.toFixed(1)).join('/') },
      });
    }
  };

  try {
    if (only.has('session') || only.has('procs')) {
      for (const set of ['s14', 's100']) {
        for (const t of targets) {
          log(`${t.name}: warm-up, one session per ${set} user`);
          const w = await warmUp(t, set).catch((e: Error) => ({ error: e.message }));
          log(`${t.name}: warm-up ${JSON.stringify(w)}`);
        }
        if (!only.has('session')) continue;
        for (const c of [50, 1])
          await rounds(`session ${set} C=${c}`, targets, (t) => sessionRate(t, set, c, secs));
      }
    }
    if (only.has('retr')) {
      await rounds('retr bulk', targets, (t) => retr(t, 'bulk', retrSecs));
      await rounds('retr big', targets, (t) => retr(t, 'big', retrSecs));
      await rounds('retr huge', targets, (t) => retr(t, 'huge', retrSecs));
    }
    if (only.has('idle')) {
      await each('idle 2000', async (t) => {
        await t.fresh?.();
        return idle(t, 's14', 2000, hold);
      });
      if (full && ours) {
        const o = ours;
        for (const k of [10_000, 16_000]) {
          try {
            await o.fresh();
            record(`idle ${k}`, 'ours', await idle(o, 'idle', k, hold));
          } catch (e) {
            log(`ours idle ${k} FAILED: ${(e as Error).message}`);
          }
        }
      }
    }
    if (only.has('scale')) {
      for (const t of targets) {
        try {
          const s = await scale(t, trials);
          record('scale first', t.name, s.first);
          record('scale cached', t.name, s.cached);
        } catch (e) {
          log(`${t.name} scale FAILED: ${(e as Error).message}`);
        }
      }
    }
    if (only.has('ceiling')) {
      if (!only.has('session')) for (const t of targets) await warmUp(t, 's14').catch(() => undefined);
      const ceilings: Target[] = [];
      try {
        const port = Number(args['ceiling-port']);
        ceilings.push(await startCeiling('node', port + 1), await startCeiling('c', port));
        const all = [...targets, ...ceilings];
        await rounds('ceiling session s14 C=50', all, (t) => sessionRate(t, 's14', 50, secs));
        await rounds('ceiling retr bulk', all, (t) => retr(t, 'bulk', retrSecs));
      } catch (e) {
        log(`ceiling FAILED: ${(e as Error).message}`);
      } finally {
        for (const c of ceilings) await c.stop().catch(() => undefined);
      }
    }
    if (only.has('procs') && ours) {
      for (const p of [1, 2]) {
        log(`ours: restarting with processes = ${p}`);
        await ours.restart(p);
        await warmUp(ours, 's14');
        const o = ours;
        await rounds(`procs=${p} s14 C=50`, [o], () => sessionRate(o, 's14', 50, secs));
      }
    }
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
  }

  const r = (key: string) => results[key] ?? {};
  const add = (row: Omit<Row, 'dovecot' | 'ours'>, key: string) => {
    if (results[key]) rows.push({ ...row, dovecot: r(key).dovecot, ours: r(key).ours });
  };
  const addP99 = (figure: string, key: string, target?: string, needRatio?: number) => {
    if (!results[key]) return;
    const p = (m?: Measured) => (m ? Number(m.detail.p99_ms) : undefined);
    rows.push({
      figure,
      unit: 'ms',
      better: 'lower',
      target,
      needRatio,
      dovecotValue: p(r(key).dovecot),
      oursValue: p(r(key).ours),
    });
  };
  add(
    {
      figure: 'session, 14 msgs, C=50',
      unit: 'sessions/s',
      better: 'higher',
      target: '≥ 10×',
      needRatio: 10,
    },
    'session s14 C=50',
  );
  addP99('  p99 latency', 'session s14 C=50', 'below Dovecot', 1);
  add({ figure: 'session, 14 msgs, C=1', unit: 'sessions/s', better: 'higher' }, 'session s14 C=1');
  addP99('  p99 latency', 'session s14 C=1');
  add(
    {
      figure: 'session, 100 msgs, C=50',
      unit: 'sessions/s',
      better: 'higher',
      target: '≥ 10×',
      needRatio: 10,
    },
    'session s100 C=50',
  );
  addP99('  p99 latency', 'session s100 C=50', 'below Dovecot', 1);
  add({ figure: 'session, 100 msgs, C=1', unit: 'sessions/s', better: 'higher' }, 'session s100 C=1');
  addP99('  p99 latency', 'session s100 C=1');
  add(
    { figure: 'RETR 1,000 small msgs', unit: 'RETR/s', better: 'higher', target: '≥ 1.5×', needRatio: 1.5 },
    'retr bulk',
  );
  add(
    { figure: 'RETR one 10 MB msg', unit: 'MB/s', better: 'higher', target: '≥ 1.5×', needRatio: 1.5 },
    'retr big',
  );
  if (results['retr big']) {
    const g = (m?: Measured) => (m ? Number(m.detail.rss_peak_growth_kb) / 1024 : undefined);
    rows.push({
      figure: '  RSS growth during 10 MB RETR',
      unit: 'MB',
      better: 'lower',
      target: 'flat in size',
      dovecotValue: g(r('retr big').dovecot),
      oursValue: g(r('retr big').ours),
    });
  }
  add({ figure: 'RETR one 100 MB msg', unit: 'MB/s', better: 'higher' }, 'retr huge');
  if (results['retr huge']) {
    const g = (m?: Measured) => (m ? Number(m.detail.rss_peak_growth_kb) / 1024 : undefined);
    rows.push({
      figure: '  RSS growth during 100 MB RETR',
      unit: 'MB',
      better: 'lower',
      target: 'flat in size',
      dovecotValue: g(r('retr huge').dovecot),
      oursValue: g(r('retr huge').ours),
    });
  }
  const detail = (key: string, side: Side, field: string) => {
    const m = r(key)[side];
    return m ? Number(m.detail[field]) : undefined;
  };
  for (const k of [2000, 10_000, 16_000]) {
    const key = `idle ${k}`;
    if (!results[key]) continue;
    const n = k.toLocaleString('en-US');
    add({ figure: `idle, ${n} logged-in sessions`, unit: 'KB PSS/session', better: 'lower' }, key);
    rows.push({
      figure: '  RSS per session',
      unit: 'KB VmRSS/session',
      better: 'lower',
      target: k >= 10_000 ? '≤ 16 KB (ours)' : undefined,
      dovecotValue: detail(key, 'dovecot', 'rss_per_session_kb'),
      oursValue: detail(key, 'ours', 'rss_per_session_kb'),
    });
    rows.push({
      figure: '  answered NOOP after the hold',
      unit: 'sessions',
      better: 'higher',
      target: k >= 10_000 ? 'all' : undefined,
      dovecotValue: detail(key, 'dovecot', 'answered_noop'),
      oursValue: detail(key, 'ours', 'answered_noop'),
    });
  }
  add(
    {
      figure: 'STAT+UIDL 100,000 msgs, first open',
      unit: 'ms',
      better: 'lower',
      target: '≤ 2× Dovecot',
      needRatio: 0.5,
    },
    'scale first',
  );
  add(
    {
      figure: 'STAT+UIDL 100,000 msgs, cached',
      unit: 'ms',
      better: 'lower',
      target: '≤ Dovecot',
      needRatio: 1,
    },
    'scale cached',
  );
  for (const p of [1, 2])
    add(
      { figure: `ours processes=${p}, 14 msgs, C=50`, unit: 'sessions/s', better: 'higher' },
      `procs=${p} s14 C=50`,
    );

  const p1 = results['procs=1 s14 C=50']?.ours?.value;
  const p2 = results['procs=2 s14 C=50']?.ours?.value;
  if (p1 && p2) notes.push(`processes=2 ÷ processes=1: ${(p2 / p1).toFixed(2)}×`);
  const ceilingRows: CeilingRow[] = [];
  for (const [figure, unit, key] of [
    ['session, 14 msgs, C=50', 'sessions/s', 'ceiling session s14 C=50'],
    ['RETR 1,000 small msgs', 'RETR/s', 'ceiling retr bulk'],
  ] as const) {
    const m = results[key];
    if (!m) continue;
    const v = (side: Side) => m[side]?.value;
    ceilingRows.push({
      figure,
      unit,
      dovecot: v('dovecot'),
      ours: v('ours'),
      node: v('ceiling-node'),
      c: v('ceiling-c'),
    });
  }
  let table = markdown(rows);
  if (ceilingRows.length > 0) table += `\n\nThe machine's ceilings:\n\n${ceilingMarkdown(ceilingRows)}`;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const head = `bench ${full ? '--full' : '(quick)'} ${new Date().toISOString()}; ${notes.join('; ')}`;
  process.stdout.write(`\n${head}\n\n${table}\n`);
  for (const n of notes) if (n.startsWith('processes')) process.stdout.write(`\n${n}\n`);
  writeFileSync(join(work, `results-${stamp}.md`), `${head}\n\n${table}\n`);
  writeFileSync(join(work, `results-${stamp}.json`), JSON.stringify({ head, full, results }, null, 1));
  process.stdout.write(`\nsaved bench/work/results-${stamp}.{md,json}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

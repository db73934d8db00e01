// /proc readings: a server's process tree, its memory, and how busy the machine was meanwhile.
import { readdirSync, readFileSync } from 'node:fs';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The roots and all their descendants (children of every thread). */
export function processTree(roots: readonly number[]): number[] {
  const all: number[] = [];
  const todo = [...roots];
  while (todo.length > 0) {
    const pid = todo.shift() as number;
    if (read(`/proc/${pid}/stat`) === undefined) continue;
    all.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const kids = read(`/proc/${pid}/task/${t}/children`) ?? '';
      for (const k of kids.split(' ')) if (k.trim()) todo.push(Number(k));
    }
  }
  return all;
}

export interface Memory {
  procs: number;
  rssKb: number;
  pssKb: number;
}

/** VmRSS (and Pss, which splits shared pages fairly) summed over the trees. */
export function memory(roots: readonly number[]): Memory {
  let rssKb = 0;
  let pssKb = 0;
  const pids = processTree(roots);
  for (const pid of pids) {
    rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? 0);
    pssKb += Number(/^Pss:\s+(\d+)/m.exec(read(`/proc/${pid}/smaps_rollup`) ?? '')?.[1] ?? 0);
  }
  return { procs: pids.length, rssKb, pssKb };
}

/** utime+stime+cutime+cstime in clock ticks (reaped children count in their parent). */
function ticksOf(pid: number | 'self'): number {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after the comm: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

function machineTicks(): { busy: number; total: number } {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuMark {
  at: number;
  machine: { busy: number; total: number };
  server: number;
  self: number;
  load1: number;
}

export function cpuMark(serverRoots: readonly number[]): CpuMark {
  return {
    at: performance.now(),
    machine: machineTicks(),
    server: processTree(serverRoots).reduce((a, p) => a + ticksOf(p), 0),
    self: ticksOf('self'),
    load1: loadAvg()[0],
  };
}

export interface CpuUse {
  /** Cores busy on the whole machine, on average. */
  machine: number;
  /** Cores used by the server under test. */
  server: number;
  /** Cores used by this runner and the load generator (its children). */
  client: number;
  /** Cores used by everything else: the other engineers' builds and tests. */
  others: number;
  cores: number;
  /** 1-minute load average at the start. */
  load1: number;
}

/** Averages between two marks; server ticks only count processes still alive at the end. */
export function cpuUse(a: CpuMark, b: CpuMark): CpuUse {
  const cores =
    (read('/proc/cpuinfo') ?? '').split('\n').filter((l) => l.startsWith('processor')).length || 1;
  const hz = 100;
  const secs = (b.at - a.at) / 1000;
  const machine = ((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * cores;
  const server = Math.max(0, b.server - a.server) / hz / secs;
  const client = Math.max(0, b.self - a.self) / hz / secs;
  return { machine, server, client, others: Math.max(0, machine - server - client), cores, load1: a.load1 };
}

export function loadAvg(): [number, number, number] {
  const v = (read('/proc/loadavg') ?? '0 0 0').split(' ').map(Number);
  return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0];
}

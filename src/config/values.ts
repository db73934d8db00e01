// Parsers for the c11n value syntaxes that ini leaves as strings: durations, sizes, lists.

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `600` (seconds), `250ms`, `30s`, `10m`, `1h`, `2d` → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** `1048576`, `512k`, `10M`, `1G` (powers of 1024, optional trailing `B`) → bytes. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : undefined;
}

/** Comma- or space-separated words. */
export function parseList(text: string): string[] {
  return text.split(/[\s,]+/).filter((w) => w.length > 0);
}

/** Shortest c11n spelling of a duration, for defaults in the inspector and `host check`. */
export function formatDuration(ms: number): string {
  for (const [unit, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${unit}`;
  }
  return ms === 0 ? '0' : `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const [unit, f] of [
    ['G', 1024 ** 3],
    ['M', 1024 ** 2],
    ['k', 1024],
  ] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return String(bytes);
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The closest candidate when it is close enough to be a plausible typo. */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return best;
  // A shortened name (`drain` for `drain_time`) is a typo too.
  const lower = name.toLowerCase();
  if (lower.length >= 4) return [...candidates].find((c) => c.toLowerCase().startsWith(lower));
  return undefined;
}

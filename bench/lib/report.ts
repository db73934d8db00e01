// The results table: each figure, Dovecot's value, ours, the ratio (how many times better ours
// is), the target, and how busy the machine was while each side was measured.
import type { Measured } from './figures.js';

export interface Row {
  figure: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Issue 6's target, as text, and the ratio it needs (ours better by this factor). */
  target?: string;
  needRatio?: number;
  dovecot?: Measured;
  ours?: Measured;
  /** A value derived from another row (p99 of a session run): shown without its own load. */
  dovecotValue?: number;
  oursValue?: number;
}

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function value(m: Measured | undefined, v: number | undefined): number | undefined {
  return v ?? m?.value;
}

export function ratio(r: Row): number | undefined {
  const d = value(r.dovecot, r.dovecotValue);
  const o = value(r.ours, r.oursValue);
  if (d === undefined || o === undefined || Number.isNaN(d) || Number.isNaN(o) || d === 0 || o === 0)
    return undefined;
  return r.better === 'higher' ? o / d : d / o;
}

function load(m: Measured | undefined): string {
  if (!m) return '';
  const c = m.cpu;
  return `load ${c.load1.toFixed(2)}, busy ${c.machine.toFixed(2)}/${c.cores} (others ${c.others.toFixed(2)})`;
}

export function markdown(rows: readonly Row[]): string {
  const out = [
    '| figure | Dovecot | ours | ours ÷ Dovecot (× better) | target | met | Dovecot run: machine | ours run: machine |',
    '| --- | ---: | ---: | ---: | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const q = ratio(r);
    const met = r.needRatio === undefined || q === undefined ? '' : q >= r.needRatio ? 'yes' : 'NO';
    out.push(
      `| ${r.figure} (${r.unit}, ${r.better} is better) | ${fmt(value(r.dovecot, r.dovecotValue))} | ${fmt(
        value(r.ours, r.oursValue),
      )} | ${q === undefined ? '—' : `${q.toFixed(2)}×`} | ${r.target ?? ''} | ${met} | ${
        r.dovecotValue === undefined ? load(r.dovecot) : ''
      } | ${r.oursValue === undefined ? load(r.ours) : ''} |`,
    );
  }
  return out.join('\n');
}

/** One figure measured on all four servers in the same alternated rounds. */
export interface CeilingRow {
  figure: string;
  unit: string;
  dovecot?: number;
  ours?: number;
  node?: number;
  c?: number;
}

/** The ceilings table: each server's value, and the ratios that tell what the machine allows. */
export function ceilingMarkdown(rows: readonly CeilingRow[]): string {
  const q = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
  const pct = (a?: number, b?: number) => (a && b ? `${Math.round((100 * a) / b)} %` : '—');
  const out = [
    '| figure (same rounds) | Dovecot | ours | Node from memory | C from memory | ours ÷ Dovecot | Node ceiling ÷ Dovecot | C ceiling ÷ Dovecot | ours of the Node ceiling |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.figure} (${r.unit}) | ${fmt(r.dovecot)} | ${fmt(r.ours)} | ${fmt(r.node)} | ${fmt(r.c)} | ${q(r.ours, r.dovecot)} | ${q(r.node, r.dovecot)} | ${q(r.c, r.dovecot)} | ${pct(r.ours, r.node)} |`,
    );
  }
  return out.join('\n');
}

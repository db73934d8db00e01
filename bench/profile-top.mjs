#!/usr/bin/env node
// Where the time went in a V8 .cpuprofile (node --cpu-prof): self time by function and by file.
//   node bench/profile-top.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/profile-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const top = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: the time deltas of the samples that landed in it.
const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;

const byFn = new Map();
const byFile = new Map();
for (const node of prof.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (!us) continue;
  const cf = node.callFrame;
  const url = cf.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/(node_modules\/)/, '$1')
    .replace(/.*\/(\.build\/[^/]+|dist)\//, '');
  const fn = `${cf.functionName || '(anonymous)'}  ${url || '(native)'}${url ? `:${cf.lineNumber + 1}` : ''}`;
  byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  const f = url || `(${cf.functionName || 'native'})`;
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}

const show = (title, m) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(
      `${((us / total) * 100).toFixed(1).padStart(6)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`,
    );
  }
};
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n`);
show('self time by function', byFn);
show('self time by file', byFile);

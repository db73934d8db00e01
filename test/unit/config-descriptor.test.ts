// What a module file must export: shape checks and the host API version rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOST_API_VERSION } from '../../src/api.js';
import { isHostError } from '../../src/errors.js';
import { checkDescriptor } from '../../src/host/loader.js';

const [major, minor] = HOST_API_VERSION.split('.').map(Number);
const good = {
  name: 'demo',
  description: 'd',
  version: '1',
  hostApi: HOST_API_VERSION,
  authors: [],
  options: { port: { type: 'integer', default: 1, description: '' } },
  construct: () => ({}),
};

test('a valid descriptor passes without warning', () => {
  const r = checkDescriptor('/m.js', good);
  assert.equal(r.descriptor.name, 'demo');
  assert.equal(r.warning, undefined);
});

test('another major is refused with API_VERSION', () => {
  for (const hostApi of [`${major + 1}.0`, `${major - 1}.9`, 'one']) {
    assert.throws(
      () => checkDescriptor('/m.js', { ...good, hostApi }),
      (e) => isHostError(e, 'API_VERSION') && e.message.includes(`built for host API ${hostApi}`),
    );
  }
});

test('a newer minor loads with a warning; an older minor silently', () => {
  const r = checkDescriptor('/m.js', { ...good, hostApi: `${major}.${minor + 1}` });
  assert.match(r.warning ?? '', /newer than this host/);
  if (minor > 0)
    assert.equal(checkDescriptor('/m.js', { ...good, hostApi: `${major}.${minor - 1}` }).warning, undefined);
});

test('malformed exports are refused with BAD_MODULE', () => {
  const bad: unknown[] = [
    undefined,
    42,
    { ...good, name: 'Bad-Name' },
    { ...good, name: 'database' },
    { ...good, construct: undefined },
    { ...good, hostApi: undefined },
    { ...good, options: undefined },
    { ...good, options: { x: { type: 'float', description: '' } } },
    { ...good, options: { x: { type: 'enum', description: '' } } },
  ];
  for (const d of bad) {
    assert.throws(
      () => checkDescriptor('/m.js', d),
      (e) => isHostError(e, 'BAD_MODULE'),
      JSON.stringify(d),
    );
  }
});

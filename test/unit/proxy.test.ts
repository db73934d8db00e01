import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyHeader } from '../../src/net/proxy.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header by hand: signature, version/command, family/protocol, length, address block. */
function v2(cmd: number, famProto: number, block: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(block.length + tlvs.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | cmd, famProto]), len, block, tlvs]);
}

function port(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

test('v1 TCP4 with a pipelined command after it', () => {
  const header = 'PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\n';
  const buf = Buffer.from(`${header}CAPA\r\n`);
  const r = parseProxyHeader(buf);
  assert.deepEqual(r, {
    state: 'done',
    version: 1,
    consumed: header.length,
    source: { address: '192.0.2.7', port: 56324 },
    destination: { address: '198.51.100.1', port: 110 },
  });
  assert.equal(buf.subarray(header.length).toString(), 'CAPA\r\n');
});

test('v1 TCP6 and UNKNOWN', () => {
  const r = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 40000 995\r\n'));
  assert.equal(r.state, 'done');
  if (r.state === 'done') {
    assert.deepEqual(r.source, { address: '2001:db8::1', port: 40000 });
    assert.deepEqual(r.destination, { address: '2001:db8::2', port: 995 });
  }
  const u = parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'));
  assert.equal(u.state, 'done');
  if (u.state === 'done') {
    assert.equal(u.source, null);
    assert.equal(u.consumed, 35);
  }
});

test('v1 arriving byte by byte asks for more until the CRLF', () => {
  const full = Buffer.from('PROXY TCP4 10.1.2.3 10.0.0.1 1 2\r\n');
  for (let i = 1; i < full.length; i++)
    assert.equal(parseProxyHeader(full.subarray(0, i)).state, 'more', `at ${i}`);
  assert.equal(parseProxyHeader(full).state, 'done');
});

test('v1 errors: wrong protocol, bad address, port out of range, too long, not PROXY at all', () => {
  for (const s of [
    'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n',
    'PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
    `PROXY TCP4 ${'1'.repeat(120)}`,
    'USER joe\r\n',
    'GET / HTTP/1.0\r\n',
  ]) {
    assert.equal(parseProxyHeader(Buffer.from(s)).state, 'invalid', s);
  }
  // A wrong first byte is refused at once, without waiting for more.
  assert.equal(parseProxyHeader(Buffer.from('U')).state, 'invalid');
});

test('v2 PROXY TCP4, with a TLV, and the bytes after it', () => {
  const block = Buffer.concat([
    Buffer.from([203, 0, 113, 9]),
    Buffer.from([10, 0, 0, 2]),
    port(61000),
    port(995),
  ]);
  const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]); // PP2_TYPE_NOOP
  const hdr = v2(1, 0x11, block, tlv);
  const r = parseProxyHeader(Buffer.concat([hdr, Buffer.from('\x16\x03\x01')]));
  assert.deepEqual(r, {
    state: 'done',
    version: 2,
    consumed: hdr.length,
    source: { address: '203.0.113.9', port: 61000 },
    destination: { address: '10.0.0.2', port: 995 },
  });
});

test('v2 PROXY TCP6 addresses in node form', () => {
  const src = Buffer.from('20010db8000000000000000000000001', 'hex');
  const dst = Buffer.from('00000000000000000000ffffc0000207', 'hex');
  const r = parseProxyHeader(v2(1, 0x21, Buffer.concat([src, dst, port(1234), port(110)])));
  assert.equal(r.state, 'done');
  if (r.state === 'done') {
    assert.deepEqual(r.source, { address: '2001:db8::1', port: 1234 });
    assert.deepEqual(r.destination, { address: '::ffff:192.0.2.7', port: 110 });
  }
  const full = Buffer.from('fe800000000000001234000000000001', 'hex');
  const r2 = parseProxyHeader(v2(1, 0x21, Buffer.concat([full, full, port(1), port(2)])));
  assert.equal(r2.state === 'done' && r2.source?.address, 'fe80::1234:0:0:1');
});

test('v2 LOCAL and UNSPEC keep the real addresses', () => {
  const local = parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)));
  assert.deepEqual(local, { state: 'done', version: 2, consumed: 16, source: null, destination: null });
  const unspec = parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)));
  assert.equal(unspec.state === 'done' && unspec.source, null);
});

test('v2 incomplete, then errors', () => {
  const hdr = v2(1, 0x11, Buffer.alloc(12));
  for (let i = 1; i < hdr.length; i++)
    assert.equal(parseProxyHeader(hdr.subarray(0, i)).state, 'more', `at ${i}`);
  const badVersion = Buffer.from(hdr);
  badVersion[12] = 0x11;
  assert.equal(parseProxyHeader(badVersion).state, 'invalid');
  const badCommand = Buffer.from(hdr);
  badCommand[12] = 0x22;
  assert.equal(parseProxyHeader(badCommand).state, 'invalid');
  assert.equal(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))).state, 'invalid', 'TCP4 block too short');
});

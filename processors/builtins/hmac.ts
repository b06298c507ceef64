// HMAC-SHA-256 with a fixed key, in plain JavaScript, for mask's `hash` action on short values.
// The key's inner and outer pad blocks are compressed once; a value then costs the compression
// of its own blocks plus one for the outer hash, and no native crypto objects. node:crypto's
// createHmac spends ~1.7 us per call on object setup alone for a 20-byte value; this takes
// ~1 us. Output is identical to createHmac('sha256', key).update(text).digest('hex') (checked
// against it in test/unit/processors/hmac.test.ts).

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const W = new Int32Array(64);

/** SHA-256 compression of the 64-byte block at buf[off..] into state `st`. */
function compress(st: Int32Array, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    W[i] = (buf[j]! << 24) | (buf[j + 1]! << 16) | (buf[j + 2]! << 8) | buf[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = st[0]!;
  let b = st[1]!;
  let c = st[2]!;
  let d = st[3]!;
  let e = st[4]!;
  let f = st[5]!;
  let g = st[6]!;
  let h = st[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + s1 + ch + K[i]! + W[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + s0 + maj) | 0;
  }
  st[0] = (st[0]! + a) | 0;
  st[1] = (st[1]! + b) | 0;
  st[2] = (st[2]! + c) | 0;
  st[3] = (st[3]! + d) | 0;
  st[4] = (st[4]! + e) | 0;
  st[5] = (st[5]! + f) | 0;
  st[6] = (st[6]! + g) | 0;
  st[7] = (st[7]! + h) | 0;
}

/** Big-endian bytes of `st` into out[0..32). */
function stateBytes(st: Int32Array, out: Uint8Array): void {
  for (let i = 0; i < 8; i++) {
    const v = st[i]!;
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = (v >>> 16) & 0xff;
    out[i * 4 + 2] = (v >>> 8) & 0xff;
    out[i * 4 + 3] = v & 0xff;
  }
}

/** The SHA-256 state after one block: (key padded to 64 bytes) XOR pad. */
function padState(key: Buffer, pad: number): Int32Array {
  const block = new Uint8Array(64);
  for (let i = 0; i < 64; i++) block[i] = (key[i] ?? 0) ^ pad;
  const st = new Int32Array(IV);
  compress(st, block, 0);
  return st;
}

/** Returns text -> hex HMAC-SHA-256 of its UTF-8 bytes under `secret`. */
export function hmacSha256Hex(secret: string): (text: string) => string {
  let key = Buffer.from(secret, 'utf8');
  if (key.length > 64) {
    // RFC 2104: keys longer than the block are hashed first.
    const st = new Int32Array(IV);
    key = Buffer.from(sha256(key, st));
  }
  const inner = padState(key, 0x36);
  const outer = padState(key, 0x5c);
  const st = new Int32Array(8);
  const outerBlock = new Uint8Array(64);
  // Outer message: 32 hash bytes, 0x80, zeros, length (64 + 32 bytes = 768 bits).
  outerBlock[32] = 0x80;
  outerBlock[62] = 768 >>> 8;
  outerBlock[63] = 768 & 0xff;
  const digest = Buffer.alloc(32);
  let msg = Buffer.alloc(256);
  return (text: string) => {
    // Room for the UTF-8 bytes (at most 3 per UTF-16 unit) and the padding (at most 72).
    if (text.length * 3 + 72 > msg.length) msg = Buffer.alloc(text.length * 3 + 72);
    // Message bytes; ASCII is copied directly, anything else is UTF-8 encoded by Buffer.
    let n = text.length;
    for (let i = 0; i < n; i++) {
      const ch = text.charCodeAt(i);
      if (ch > 0x7f) {
        n = msg.write(text, 0, 'utf8');
        break;
      }
      msg[i] = ch;
    }
    // SHA-256 padding: 0x80, zeros, the bit length of ipad block + message (big-endian 64-bit).
    const total = (((n + 9 + 63) / 64) | 0) * 64;
    msg.fill(0, n, total);
    msg[n] = 0x80;
    const bits = (64 + n) * 8;
    msg.writeUInt32BE(Math.floor(bits / 0x100000000), total - 8);
    msg.writeUInt32BE(bits >>> 0, total - 4);
    st.set(inner);
    for (let off = 0; off < total; off += 64) compress(st, msg, off);
    stateBytes(st, outerBlock);
    st.set(outer);
    compress(st, outerBlock, 0);
    stateBytes(st, digest);
    return digest.toString('hex');
  };
}

/** Plain SHA-256 of `data` (only for keys longer than a block). */
function sha256(data: Buffer, st: Int32Array): Uint8Array {
  const total = Math.ceil((data.length + 9) / 64) * 64;
  const buf = Buffer.alloc(total);
  data.copy(buf);
  buf[data.length] = 0x80;
  const bits = data.length * 8;
  buf.writeUInt32BE(Math.floor(bits / 0x100000000), total - 8);
  buf.writeUInt32BE(bits >>> 0, total - 4);
  for (let off = 0; off < total; off += 64) compress(st, buf, off);
  const out = new Uint8Array(32);
  stateBytes(st, out);
  return out;
}

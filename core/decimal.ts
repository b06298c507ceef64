// Decimal digits of non-negative safe integers written as bytes, without making a string
// (core/events/json-bytes.ts, core/kafka/record-pack.ts).

/** Decimal digits of a non-negative safe integer (below 2^53 < 10^16: at most 16). */
export function digitsOf(v: number): number {
  let digits = 1;
  for (let limit = 10; v >= limit && digits < 16; limit *= 10) digits++;
  return digits;
}

/**
 * A non-negative safe integer's decimal digits at buf[o..]; returns the position after them.
 * Numbers of 2^30 and more are not small integers to V8 (each division is a double one), so
 * they are split in two parts below 10^8 written with integer arithmetic.
 */
export function writeDigits(buf: Uint8Array, o: number, v: number): number {
  if (v >= 0x40000000) {
    const high = Math.floor(v / 1e8);
    o = writeDigits(buf, o, high);
    let low = v - high * 1e8;
    for (let p = o + 7; p >= o; p--) {
      const q = (low / 10) | 0;
      buf[p] = 0x30 + low - q * 10;
      low = q;
    }
    return o + 8;
  }
  const end = o + digitsOf(v);
  let p = end;
  do {
    const q = (v / 10) | 0;
    buf[--p] = 0x30 + v - q * 10;
    v = q;
  } while (v > 0);
  return end;
}

'use strict'
// Deterministic test data shared by the node CLI and the browser bundle.
//
// Generator (reimplement exactly on the Rust side):
//   state: u32 = seed            (seed must be 1..=2^32-1; 0 is rejected)
//   for every output byte:
//     state ^= state << 13       (shifts discard bits beyond 32)
//     state ^= state >> 17       (logical shift)
//     state ^= state << 5
//     byte = state & 0xff
// i.e. one xorshift32 (13,17,5) step per byte, keeping the low byte.
// Seed 1 starts: 21 01 c5 4f d1 d0 1a b2 ... (see README.md for more vectors).

function parseSeed (s) {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
    throw new Error('data seed must be an integer in 1..4294967295, got ' + s)
  }
  return n
}

// Returns a Uint8Array (a Buffer when Buffer is available) of n bytes.
function generate (n, seed) {
  const out = typeof Buffer !== 'undefined' ? Buffer.allocUnsafe(n) : new Uint8Array(n)
  let x = parseSeed(seed) | 0 // kept as int32; `>>>` below makes the shift logical
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

module.exports = { generate, parseSeed }

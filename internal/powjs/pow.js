// The proof-of-work solver of the citizens' forms, shared by the queue's
// script (queue/web, /coda/queue.js) and the booking form's
// (booking/web, /prenota/verifica.js): each package serves this file in
// front of its own page script (powjs.With), so the two forms run one
// solver and the two files cannot drift apart. It defines one global,
// sportelloPow, and holds no text.
//
// The served file is also the Web Worker that solves the proof, so that
// the page stays responsive: a worker is same-origin, which the CSP's
// script-src 'self' allows, and needs no second file. In the worker
// (no document) this part answers the page's message; the page script
// after it sees no document and stops.
var sportelloPow = (function () {
  "use strict";

  // SHA-256 (FIPS 180-4) of short ASCII messages, for the proof of work:
  // find a counter such that SHA-256(challenge + decimal counter) starts
  // with `bits` zero bits (queue/web/pow.go and booking/fair_pow.go check
  // it the same way).
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  var W = new Int32Array(64);

  // compress mixes the 64-byte block of m at off into the state st.
  function compress(st, m, off) {
    var i, x, y;
    for (i = 0; i < 16; i++) {
      x = off + i * 4;
      W[i] = (m[x] << 24) | (m[x + 1] << 16) | (m[x + 2] << 8) | m[x + 3];
    }
    for (i = 16; i < 64; i++) {
      x = W[i - 15];
      y = W[i - 2];
      W[i] = (W[i - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
        W[i - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
    }
    var a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7], t1, t2;
    for (i = 0; i < 64; i++) {
      t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    st[0] = (st[0] + a) | 0; st[1] = (st[1] + b) | 0; st[2] = (st[2] + c) | 0; st[3] = (st[3] + d) | 0;
    st[4] = (st[4] + e) | 0; st[5] = (st[5] + f) | 0; st[6] = (st[6] + g) | 0; st[7] = (st[7] + h) | 0;
  }

  // solver returns a function that tries n counters from `from` and
  // gives the first that solves the challenge, or -1. The challenge's
  // whole 64-byte blocks are hashed once (the "midstate"); each try
  // hashes only the tail with the counter's digits.
  function solver(challenge, bits) {
    var full = challenge.length - (challenge.length % 64), mid = IV.slice(), i;
    var bytes = new Uint8Array(challenge.length);
    for (i = 0; i < challenge.length; i++) bytes[i] = challenge.charCodeAt(i) & 0xff;
    for (i = 0; i < full; i += 64) compress(mid, bytes, i);
    var rest = challenge.length - full, tail = new Uint8Array(128), st = new Int32Array(8);
    for (i = 0; i < rest; i++) tail[i] = bytes[full + i];
    var mask = bits >= 32 ? -1 : ~(0xffffffff >>> bits);
    return function (from, n) {
      for (var c = from; c < from + n; c++) {
        var digits = String(c), len = rest + digits.length, j;
        for (j = 0; j < digits.length; j++) tail[rest + j] = digits.charCodeAt(j);
        var blocks = len + 9 > 64 ? 2 : 1, end = blocks * 64;
        tail[len] = 0x80;
        for (j = len + 1; j < end - 4; j++) tail[j] = 0;
        var bitLen = (challenge.length + digits.length) * 8;
        tail[end - 4] = bitLen >>> 24; tail[end - 3] = bitLen >>> 16; tail[end - 2] = bitLen >>> 8; tail[end - 1] = bitLen;
        for (j = 0; j < 8; j++) st[j] = mid[j];
        compress(st, tail, 0);
        if (blocks === 2) compress(st, tail, 64);
        if (bits === 0 || (st[0] & mask) === 0) return c;
      }
      return -1;
    };
  }

  // solve finds the counter of a challenge and calls done with it: in a
  // worker running scriptURL (the served file, which starts with this
  // code) when the browser gives one, else on the page in small batches
  // between which the page stays responsive.
  function solve(scriptURL, challenge, bits, done) {
    var onPage = function () {
      var s = solver(challenge, bits), from = 0;
      (function batch() {
        var c = s(from, 20000);
        if (c >= 0) return done(c);
        from += 20000;
        setTimeout(batch, 0);
      })();
    };
    var w;
    try {
      w = new Worker(scriptURL);
    } catch (err) {
      return onPage();
    }
    var settled = false;
    w.onmessage = function (e) {
      settled = true;
      w.terminate();
      done(e.data.counter);
    };
    w.onerror = function () {
      if (settled) return;
      settled = true;
      w.terminate();
      onPage();
    };
    w.postMessage({ challenge: challenge, bits: bits });
  }

  // In the worker: solve what the page sends, to the end.
  if (typeof document === "undefined") {
    self.onmessage = function (e) {
      var s = solver(e.data.challenge, e.data.bits), c;
      for (var from = 0; (c = s(from, 1 << 16)) < 0; from += 1 << 16) { /* next batch */ }
      self.postMessage({ challenge: e.data.challenge, counter: c });
    };
  }

  return { solver: solver, solve: solve };
})();

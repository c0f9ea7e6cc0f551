// A QR Code encoder (ISO/IEC 18004) for the account page: the otpauth URI
// of a TOTP enrolment becomes a QR code drawn on a canvas, in the page,
// so the secret goes to no other service and the page loads nothing from
// elsewhere. Byte mode, error correction level M, the smallest version
// that fits, the mask with the lowest penalty. After Project Nayuki's
// QR Code generator (MIT), cut down to what the page needs.
"use strict";

const QR = (() => {
  // Per version (index 1..40), level M: error correction codewords per
  // block, and number of blocks.
  const ECC_PER_BLOCK = [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
    26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
  const BLOCKS = [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
    17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];
  const LEVEL_M = 0; // the format bits of level M

  const bit = (x, i) => ((x >>> i) & 1) !== 0;

  // Modules of a version that carry data and error correction.
  function rawDataModules(ver) {
    let n = (16 * ver + 128) * ver + 64;
    if (ver >= 2) {
      const align = Math.floor(ver / 7) + 2;
      n -= (25 * align - 10) * align - 55;
      if (ver >= 7) n -= 36;
    }
    return n;
  }

  const dataCodewords = (ver) => Math.floor(rawDataModules(ver) / 8) - ECC_PER_BLOCK[ver] * BLOCKS[ver];

  // Reed-Solomon over GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1.
  function gfMultiply(x, y) {
    let z = 0;
    for (let i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z;
  }

  function rsDivisor(degree) {
    const d = new Array(degree).fill(0);
    d[degree - 1] = 1;
    let root = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < d.length; j++) {
        d[j] = gfMultiply(d[j], root);
        if (j + 1 < d.length) d[j] ^= d[j + 1];
      }
      root = gfMultiply(root, 0x02);
    }
    return d;
  }

  function rsRemainder(data, divisor) {
    const r = divisor.map(() => 0);
    for (const b of data) {
      const factor = b ^ r.shift();
      r.push(0);
      divisor.forEach((coef, i) => { r[i] ^= gfMultiply(coef, factor); });
    }
    return r;
  }

  // The codewords of bytes at version ver: mode, length, data, padding;
  // then split into blocks, each given its error correction, interleaved.
  function codewords(bytes, ver) {
    const bits = [];
    const put = (value, len) => { for (let i = len - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
    const capacity = dataCodewords(ver) * 8;
    put(0x4, 4); // byte mode
    put(bytes.length, ver <= 9 ? 8 : 16);
    for (const b of bytes) put(b, 8);
    put(0, Math.min(4, capacity - bits.length));
    put(0, (8 - bits.length % 8) % 8);
    for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) put(pad, 8);
    const data = [];
    for (let i = 0; i < bits.length; i += 8) data.push(parseInt(bits.slice(i, i + 8).join(""), 2));

    const blocks = BLOCKS[ver];
    const eccLen = ECC_PER_BLOCK[ver];
    const raw = Math.floor(rawDataModules(ver) / 8);
    const short = blocks - raw % blocks;
    const shortLen = Math.floor(raw / blocks);
    const divisor = rsDivisor(eccLen);
    const all = [];
    for (let i = 0, k = 0; i < blocks; i++) {
      const block = data.slice(k, k + shortLen - eccLen + (i < short ? 0 : 1));
      k += block.length;
      const ecc = rsRemainder(block, divisor);
      if (i < short) block.push(0);
      all.push(block.concat(ecc));
    }
    const out = [];
    for (let i = 0; i < all[0].length; i++) {
      all.forEach((block, j) => {
        if (i !== shortLen - eccLen || j >= short) out.push(block[i]);
      });
    }
    return out;
  }

  // Matrix is one symbol under construction.
  class Matrix {
    constructor(ver) {
      this.ver = ver;
      this.size = ver * 4 + 17;
      this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
      this.fixed = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    }

    set(x, y, dark) {
      this.dark[y][x] = dark;
      this.fixed[y][x] = true;
    }

    drawPatterns() {
      const n = this.size;
      for (let i = 0; i < n; i++) {
        this.set(6, i, i % 2 === 0);
        this.set(i, 6, i % 2 === 0);
      }
      for (const [cx, cy] of [[3, 3], [n - 4, 3], [3, n - 4]]) {
        for (let dy = -4; dy <= 4; dy++) {
          for (let dx = -4; dx <= 4; dx++) {
            const d = Math.max(Math.abs(dx), Math.abs(dy));
            const x = cx + dx;
            const y = cy + dy;
            if (x >= 0 && x < n && y >= 0 && y < n) this.set(x, y, d !== 2 && d !== 4);
          }
        }
      }
      const pos = this.alignmentPositions();
      const last = pos.length - 1;
      pos.forEach((cx, i) => pos.forEach((cy, j) => {
        if (i === 0 && j === 0 || i === 0 && j === last || i === last && j === 0) return; // finders
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) this.set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      }));
      this.drawFormat(0); // reserved now, written once the mask is chosen
      if (this.ver >= 7) {
        let rem = this.ver;
        for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
        const bits = this.ver << 12 | rem;
        for (let i = 0; i < 18; i++) {
          const a = n - 11 + i % 3;
          const b = Math.floor(i / 3);
          this.set(a, b, bit(bits, i));
          this.set(b, a, bit(bits, i));
        }
      }
    }

    alignmentPositions() {
      if (this.ver === 1) return [];
      const count = Math.floor(this.ver / 7) + 2;
      const step = Math.floor((this.ver * 8 + count * 3 + 5) / (count * 4 - 4)) * 2;
      const out = [6];
      for (let p = this.size - 7; out.length < count; p -= step) out.splice(1, 0, p);
      return out;
    }

    drawFormat(mask) {
      const data = LEVEL_M << 3 | mask;
      let rem = data;
      for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
      const bits = (data << 10 | rem) ^ 0x5412;
      const n = this.size;
      for (let i = 0; i <= 5; i++) this.set(8, i, bit(bits, i));
      this.set(8, 7, bit(bits, 6));
      this.set(8, 8, bit(bits, 7));
      this.set(7, 8, bit(bits, 8));
      for (let i = 9; i < 15; i++) this.set(14 - i, 8, bit(bits, i));
      for (let i = 0; i < 8; i++) this.set(n - 1 - i, 8, bit(bits, i));
      for (let i = 8; i < 15; i++) this.set(8, n - 15 + i, bit(bits, i));
      this.set(8, n - 8, true); // the dark module
    }

    // drawData places the codewords in the zigzag of two-module columns.
    drawData(words) {
      const n = this.size;
      let i = 0;
      for (let right = n - 1; right >= 1; right -= 2) {
        if (right === 6) right = 5; // the vertical timing pattern
        for (let v = 0; v < n; v++) {
          for (let j = 0; j < 2; j++) {
            const x = right - j;
            const y = ((right + 1) & 2) === 0 ? n - 1 - v : v;
            if (!this.fixed[y][x] && i < words.length * 8) {
              this.dark[y][x] = bit(words[i >>> 3], 7 - (i & 7));
              i++;
            }
          }
        }
      }
    }

    applyMask(mask) {
      const flips = [
        (x, y) => (x + y) % 2 === 0,
        (x, y) => y % 2 === 0,
        (x) => x % 3 === 0,
        (x, y) => (x + y) % 3 === 0,
        (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
        (x, y) => x * y % 2 + x * y % 3 === 0,
        (x, y) => (x * y % 2 + x * y % 3) % 2 === 0,
        (x, y) => ((x + y) % 2 + x * y % 3) % 2 === 0,
      ];
      for (let y = 0; y < this.size; y++) {
        for (let x = 0; x < this.size; x++) {
          if (!this.fixed[y][x] && flips[mask](x, y)) this.dark[y][x] = !this.dark[y][x];
        }
      }
    }

    // penalty scores the symbol as the standard does: runs, 2x2 blocks,
    // finder-like patterns and the balance of dark and light.
    penalty() {
      const n = this.size;
      const at = (x, y, transposed) => (transposed ? this.dark[x][y] : this.dark[y][x]);
      let score = 0;
      let darkCount = 0;
      for (const transposed of [false, true]) {
        for (let y = 0; y < n; y++) {
          let run = 1;
          let line = "";
          for (let x = 0; x < n; x++) {
            const d = at(x, y, transposed);
            line += d ? "1" : "0";
            if (x > 0 && d === at(x - 1, y, transposed)) {
              run++;
              if (run === 5) score += 3;
              else if (run > 5) score++;
            } else {
              run = 1;
            }
          }
          for (const p of ["00001011101", "10111010000"]) {
            for (let k = line.indexOf(p); k >= 0; k = line.indexOf(p, k + 1)) score += 40;
          }
        }
      }
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          if (this.dark[y][x]) darkCount++;
          if (x < n - 1 && y < n - 1) {
            const d = this.dark[y][x];
            if (d === this.dark[y][x + 1] && d === this.dark[y + 1][x] && d === this.dark[y + 1][x + 1]) score += 3;
          }
        }
      }
      const total = n * n;
      score += (Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1) * 10;
      return score;
    }
  }

  // encode returns the modules of text's QR code: rows of booleans, true
  // for dark, without the quiet zone.
  function encode(text) {
    const bytes = Array.from(new TextEncoder().encode(text));
    let ver = 1;
    while (4 + (ver <= 9 ? 8 : 16) + bytes.length * 8 > dataCodewords(ver) * 8) {
      if (++ver > 40) throw new Error("too long for a QR code");
    }
    const words = codewords(bytes, ver);
    let best = null;
    let bestScore = Infinity;
    for (let mask = 0; mask < 8; mask++) {
      const m = new Matrix(ver);
      m.drawPatterns();
      m.drawData(words);
      m.applyMask(mask);
      m.drawFormat(mask);
      const score = m.penalty();
      if (score < bestScore) {
        best = m;
        bestScore = score;
      }
    }
    return best.dark;
  }

  // draw paints text's QR code on canvas, scale pixels a module, with the
  // four-module quiet zone readers need.
  function draw(canvas, text, scale) {
    const modules = encode(text);
    const quiet = 4;
    const side = (modules.length + 2 * quiet) * scale;
    canvas.width = side;
    canvas.height = side;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, side, side);
    ctx.fillStyle = "#000";
    modules.forEach((row, y) => row.forEach((dark, x) => {
      if (dark) ctx.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
    }));
  }

  return { encode, draw };
})();

// The toy synthesizer of course_lib/synth.py for one static note (the default preset's model):
// partials k f0 sqrt(1 + B k^2) with a dB envelope (tilt per octave, odd/even), Schroeder phases,
// noise shaped by the same tilt and mixed at the HNR, a linear attack and release, the RMS set to
// the level. The noise's random numbers are synth.py's hash of (seed, clip id, bin), so a clip
// matches course_lib.synth sample for sample up to float rounding.
CL.synth = (() => {
  const SR = 16000, BLOCK = 32, MAX_PARTIALS = 64, FLOOR_DB = -80;
  const M64 = (1n << 64n) - 1n, GOLDEN = 0x9e3779b97f4a7c15n;
  const noiseCache = {};

  function mix64(x) {
    x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M64;
    return x ^ (x >> 31n);
  }

  // Uniform real and imaginary parts in [-1, 1) of every noise bin (synth.noise_spectra).
  function noiseNumbers(seed, id, bins) {
    const key = `${seed}/${id}/${bins}`;
    if (noiseCache[key]) return noiseCache[key];
    const re = new Float64Array(bins), im = new Float64Array(bins);
    const k = mix64(mix64((BigInt(seed) + GOLDEN) & M64) ^ BigInt(id));
    const scale = Math.pow(2, -31);
    for (let b = 0; b < bins; b++) {
      const h = mix64((k + BigInt(b) * GOLDEN) & M64);
      re[b] = Math.fround(Number(BigInt.asIntN(32, h & 0xffffffffn))) * scale;
      im[b] = Math.fround(Number(BigInt.asIntN(32, h >> 32n))) * scale;
    }
    return (noiseCache[key] = { re, im });
  }

  // Envelope at each sample: linear attack, hold, linear release, interpolated per 32-sample block.
  function envelope(n, p) {
    const blocks = Math.ceil(n / BLOCK), edges = new Float64Array(blocks + 1);
    const attack = Math.max(p.attack / 1000, 1e-6), release = Math.max(p.release / 1000, 1e-6);
    const duration = n / SR;
    for (let b = 0; b <= blocks; b++) {
      const u = (b * BLOCK) / SR;
      const rise = Math.min(Math.max(u / attack, 0), 1), fall = Math.min(Math.max((duration - u) / release, 0), 1);
      edges[b] = u >= 0 && u <= duration ? rise * fall : 0;
    }
    const env = new Float64Array(blocks * BLOCK);
    for (let b = 0; b < blocks; b++) {
      const e0 = edges[b], de = (edges[b + 1] - e0) / BLOCK;
      for (let i = 0; i < BLOCK; i++) env[b * BLOCK + i] = e0 + de * i;
    }
    return env;
  }

  function harmonic(n, p) {
    const ratios = [], db = [];
    for (let k = 1; k <= MAX_PARTIALS; k++) {
      const r = k * Math.sqrt(1 + p.inharmonicity * k * k);
      ratios.push(r);
      db.push(r * p.f0 < SR / 2 ? p.tilt * Math.log2(r) + (k % 2 === 0 ? p.odd_even : 0) : -Infinity);
    }
    const top = Math.max(...db);
    const amps = db.map((d) => (d >= top + FLOOR_DB ? Math.pow(10, d / 20) : 0));
    const norm = Math.sqrt(0.5 * amps.reduce((a, v) => a + v * v, 0));
    let kept = 0;
    amps.forEach((a, i) => { if (a > 0) kept = i + 1; });
    const out = new Float64Array(n), theta = (2 * Math.PI * p.f0) / SR;
    for (let k = 1; k <= kept; k++) {
      const a = amps[k - 1] / norm;
      if (a === 0) continue;
      const phase = (-Math.PI * k * (k - 1)) / kept, w = ratios[k - 1] * theta, c2 = 2 * Math.cos(w);
      let prev = Math.sin(phase - w), cur = Math.sin(phase); // sin(phase + i w) by its recurrence
      for (let i = 0; i < n; i++) {
        out[i] += a * cur;
        const next = c2 * cur - prev;
        prev = cur;
        cur = next;
      }
    }
    return out;
  }

  function noise(n, p, seed, id) {
    const nPad = Math.ceil(n / BLOCK) * BLOCK, bins = nPad / 2 + 1, { re, im } = noiseNumbers(seed, id, bins);
    const sr = new Float64Array(bins), si = new Float64Array(bins), log2f0 = Math.log2(p.f0);
    const slopeBelow = Math.fround(20 * Math.log10(4)), toExp = Math.fround(Math.log2(10) / 20);
    for (let b = 1; b < bins; b++) {
      const octaves = Math.fround(Math.log2((b * SR) / nPad) - log2f0);
      const d = Math.fround(octaves * (octaves > 0 ? Math.fround(p.tilt) : slopeBelow));
      const a = Math.fround(Math.pow(2, Math.fround(d * toExp)));
      sr[b] = a * re[b];
      si[b] = a * im[b];
    }
    return CL.fft.irfft(sr, si, nPad);
  }

  // One clip (Float64Array[n]) from the parameters {f0, level, tilt, odd_even, inharmonicity, hnr,
  // attack, release}; seed and id choose the noise as synth.synthesize's seed and ids.
  function render(p, seed = 0, id = 0, duration = 1) {
    const n = Math.round(duration * SR), env = envelope(n, p), h = harmonic(n, p);
    let ph = 0;
    for (let i = 0; i < n; i++) { h[i] *= env[i]; ph += h[i] * h[i]; }
    const x = h;
    if (Number.isFinite(p.hnr)) {
      const v = noise(n, p, seed, id);
      let pn = 0;
      for (let i = 0; i < n; i++) { v[i] *= env[i]; pn += v[i] * v[i]; }
      const c = Math.sqrt(ph / (pn * Math.pow(10, p.hnr / 10)));
      for (let i = 0; i < n; i++) x[i] += c * v[i];
    }
    let total = 0;
    for (let i = 0; i < n; i++) total += x[i] * x[i];
    const g = total > 0 ? Math.sqrt((n * Math.pow(10, p.level / 10)) / total) : 0;
    for (let i = 0; i < n; i++) x[i] *= g;
    return x;
  }

  return { SR, render };
})();

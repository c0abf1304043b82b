// Fourier transforms for the live widgets (course_lib/live.py): an in-place radix-2 complex FFT
// (Griffin-Lim's 1024-point frames) and a mixed-radix one for any length (the synthesizer's noise,
// 16,000 points = 2^7 5^3), plus the real inverse transform numpy.fft.irfft computes.
CL.fft = (() => {
  const plans = {};
  function plan(n) {
    if (plans[n]) return plans[n];
    const bits = Math.round(Math.log2(n));
    if (1 << bits !== n) throw new Error(`radix-2 FFT needs a power of two, got ${n}`);
    const rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      rev[i] = r;
    }
    const cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
    for (let i = 0; i < n / 2; i++) {
      cos[i] = Math.cos((2 * Math.PI * i) / n);
      sin[i] = Math.sin((2 * Math.PI * i) / n);
    }
    return (plans[n] = { rev, cos, sin });
  }

  // In place: X_k = sum_n x_n exp(-2 pi i k n / N) (inverse: +i, not scaled).
  function radix2(re, im, inverse) {
    const n = re.length, { rev, cos, sin } = plan(n), s = inverse ? 1 : -1;
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let t = re[i]; re[i] = re[j]; re[j] = t;
        t = im[i]; im[i] = im[j]; im[j] = t;
      }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1, step = n / size;
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step], wi = s * sin[k * step];
        for (let a = k; a < n; a += size) {
          const b = a + half, xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr; im[b] = im[a] - xi;
          re[a] += xr; im[a] += xi;
        }
      }
    }
  }

  // Any length, recursively over its smallest prime factor (returns new arrays).
  function mixed(re, im, inverse) {
    const n = re.length, s = inverse ? 1 : -1;
    if (n === 1) return [Float64Array.from(re), Float64Array.from(im)];
    let p = 2;
    while (n % p) p++;
    const m = n / p, outRe = new Float64Array(n), outIm = new Float64Array(n);
    if (p === n) {
      for (let k = 0; k < n; k++) {
        let ar = 0, ai = 0;
        for (let j = 0; j < n; j++) {
          const a = (s * 2 * Math.PI * ((k * j) % n)) / n, c = Math.cos(a), d = Math.sin(a);
          ar += re[j] * c - im[j] * d; ai += re[j] * d + im[j] * c;
        }
        outRe[k] = ar; outIm[k] = ai;
      }
      return [outRe, outIm];
    }
    const subs = [];
    for (let r = 0; r < p; r++) {
      const sr = new Float64Array(m), si = new Float64Array(m);
      for (let j = 0; j < m; j++) { sr[j] = re[j * p + r]; si[j] = im[j * p + r]; }
      subs.push(mixed(sr, si, inverse));
    }
    for (let k = 0; k < n; k++) {
      const km = k % m;
      let ar = 0, ai = 0;
      for (let r = 0; r < p; r++) {
        const a = (s * 2 * Math.PI * ((r * k) % n)) / n, c = Math.cos(a), d = Math.sin(a);
        const yr = subs[r][0][km], yi = subs[r][1][km];
        ar += yr * c - yi * d; ai += yr * d + yi * c;
      }
      outRe[k] = ar; outIm[k] = ai;
    }
    return [outRe, outIm];
  }

  // numpy.fft.irfft(spectrum, n): the imaginary parts of the 0 and n/2 bins are ignored.
  function irfft(specRe, specIm, n) {
    const re = new Float64Array(n), im = new Float64Array(n), bins = Math.floor(n / 2) + 1;
    for (let k = 0; k < bins && k < specRe.length; k++) {
      re[k] = specRe[k]; im[k] = specIm[k];
      if (k > 0 && k < n - k) { re[n - k] = specRe[k]; im[n - k] = -specIm[k]; }
    }
    im[0] = 0;
    if (n % 2 === 0) im[n / 2] = 0;
    const pow2 = (n & (n - 1)) === 0;
    let out = re;
    if (pow2) radix2(re, im, true);
    else out = mixed(re, im, true)[0];
    for (let i = 0; i < n; i++) out[i] /= n;
    return out;
  }

  return { radix2, mixed, irfft };
})();

// Griffin-Lim phase recovery (Griffin & Lim 1984) with the momentum of librosa.griffinlim
// (Perraudin et al. 2013, 0.99): STFT and inverse STFT with centred Hann frames, as librosa.
CL.griffinLim = (() => {
  function rng(seed) { // mulberry32: a small seeded generator for the random start phases
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // Two real frames per complex FFT: x = a + i b, then A_k = (X_k + conj X_{n-k}) / 2 and
  // B_k = (X_k - conj X_{n-k}) / 2i; back, ifft(A + i B) = a + i b.
  function istft(re, im, frames, n, hop, w, length, work) {
    const bins = n / 2 + 1, total = n + hop * (frames - 1), { y, wss, fr, fi } = work;
    y.fill(0, 0, total);
    for (let t = 0; t < frames; t += 2) {
      const oa = t * bins, ob = t + 1 < frames ? oa + bins : -1;
      for (let k = 0; k < bins; k++) {
        const ar = re[oa + k], ai = k === 0 || k === n / 2 ? 0 : im[oa + k];
        const br = ob < 0 ? 0 : re[ob + k], bi = ob < 0 || k === 0 || k === n / 2 ? 0 : im[ob + k];
        fr[k] = ar - bi; fi[k] = ai + br; // A_k + i B_k
        if (k > 0 && k < n / 2) { fr[n - k] = ar + bi; fi[n - k] = br - ai; } // conj(A_k) + i conj(B_k)
      }
      CL.fft.radix2(fr, fi, true);
      for (let i = 0; i < n; i++) {
        y[t * hop + i] += (fr[i] / n) * w[i];
        if (ob >= 0) y[(t + 1) * hop + i] += (fi[i] / n) * w[i];
      }
    }
    const out = new Float64Array(length), start = n / 2;
    for (let i = 0; i < length && start + i < total; i++) {
      const s = wss[start + i];
      out[i] = s > 1.1754944e-38 ? y[start + i] / s : y[start + i];
    }
    return out;
  }

  function stft(x, frames, n, hop, w, re, im, work) {
    const bins = n / 2 + 1, { fr, fi } = work;
    for (let t = 0; t < frames; t += 2) {
      const sa = t * hop - n / 2, sb = sa + hop, two = t + 1 < frames;
      for (let i = 0; i < n; i++) {
        const ja = sa + i, jb = sb + i;
        fr[i] = ja >= 0 && ja < x.length ? x[ja] * w[i] : 0;
        fi[i] = two && jb >= 0 && jb < x.length ? x[jb] * w[i] : 0;
      }
      CL.fft.radix2(fr, fi, false);
      for (let k = 0; k < bins; k++) {
        const m = (n - k) % n, xr = fr[k], xi = fi[k], yr = fr[m], yi = -fi[m];
        re[t * bins + k] = (xr + yr) / 2; im[t * bins + k] = (xi + yi) / 2;
        if (two) { re[(t + 1) * bins + k] = (xi - yi) / 2; im[(t + 1) * bins + k] = (yr - xr) / 2; }
      }
    }
  }

  function workspace(frames, n, hop, w) {
    const total = n + hop * (frames - 1), wss = new Float64Array(total);
    for (let t = 0; t < frames; t++) for (let i = 0; i < n; i++) wss[t * hop + i] += w[i] * w[i];
    return { y: new Float64Array(total), wss, fr: new Float64Array(n), fi: new Float64Array(n) };
  }

  // mag: [frames][bins] STFT magnitudes; returns Float64Array[length].
  return function griffinLim(mag, n, hop, nIter, length, seed = 0, momentum = 0.99) {
    const frames = mag.length, bins = n / 2 + 1, size = frames * bins, w = CL.features.hann(n);
    const S = new Float64Array(size), re = new Float64Array(size), im = new Float64Array(size);
    const rbRe = new Float64Array(size), rbIm = new Float64Array(size);
    const prevRe = new Float64Array(size), prevIm = new Float64Array(size);
    const random = rng(seed);
    for (let t = 0; t < frames; t++) {
      for (let k = 0; k < bins; k++) {
        const i = t * bins + k, a = 2 * Math.PI * random();
        S[i] = mag[t][k];
        re[i] = S[i] * Math.cos(a);
        im[i] = S[i] * Math.sin(a);
      }
    }
    const c = momentum / (1 + momentum), work = workspace(frames, n, hop, w);
    for (let it = 0; it < nIter; it++) {
      const x = istft(re, im, frames, n, hop, w, length, work);
      stft(x, frames, n, hop, w, rbRe, rbIm, work);
      for (let i = 0; i < size; i++) {
        let ar = rbRe[i], ai = rbIm[i];
        if (it > 0) { ar -= c * prevRe[i]; ai -= c * prevIm[i]; }
        const norm = Math.sqrt(ar * ar + ai * ai) + 1e-30;
        re[i] = (S[i] * ar) / norm;
        im[i] = (S[i] * ai) / norm;
        prevRe[i] = rbRe[i];
        prevIm[i] = rbIm[i];
      }
    }
    return istft(re, im, frames, n, hop, w, length, work);
  };
})();

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

  // Overlap-add of the inverse FFT of each frame, divided by the summed squared window (librosa.istft).
  function istft(re, im, frames, n, hop, w, length) {
    const bins = n / 2 + 1, total = n + hop * (frames - 1), y = new Float64Array(total);
    const wss = new Float64Array(total), fr = new Float64Array(n), fi = new Float64Array(n);
    for (let t = 0; t < frames; t++) {
      const o = t * bins;
      for (let k = 0; k < bins; k++) { fr[k] = re[o + k]; fi[k] = im[o + k]; }
      for (let k = 1; k < n / 2; k++) { fr[n - k] = fr[k]; fi[n - k] = -fi[k]; }
      fi[0] = 0; fi[n / 2] = 0;
      CL.fft.radix2(fr, fi, true);
      for (let i = 0; i < n; i++) {
        y[t * hop + i] += (fr[i] / n) * w[i];
        wss[t * hop + i] += w[i] * w[i];
      }
    }
    const out = new Float64Array(length), start = n / 2;
    for (let i = 0; i < length && start + i < total; i++) {
      const s = wss[start + i];
      out[i] = s > 1.1754944e-38 ? y[start + i] / s : y[start + i];
    }
    return out;
  }

  function stft(x, frames, n, hop, w, re, im) {
    const bins = n / 2 + 1, fr = new Float64Array(n), fi = new Float64Array(n);
    for (let t = 0; t < frames; t++) {
      const start = t * hop - n / 2;
      for (let i = 0; i < n; i++) {
        const j = start + i;
        fr[i] = j >= 0 && j < x.length ? x[j] * w[i] : 0;
        fi[i] = 0;
      }
      CL.fft.radix2(fr, fi, false);
      for (let k = 0; k < bins; k++) { re[t * bins + k] = fr[k]; im[t * bins + k] = fi[k]; }
    }
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
    const c = momentum / (1 + momentum);
    for (let it = 0; it < nIter; it++) {
      const x = istft(re, im, frames, n, hop, w, length);
      stft(x, frames, n, hop, w, rbRe, rbIm);
      for (let i = 0; i < size; i++) {
        let ar = rbRe[i], ai = rbIm[i];
        if (it > 0) { ar -= c * prevRe[i]; ai -= c * prevIm[i]; }
        const norm = Math.hypot(ar, ai) + 1e-30;
        re[i] = (S[i] * ar) / norm;
        im[i] = (S[i] * ai) / norm;
        prevRe[i] = rbRe[i];
        prevIm[i] = rbIm[i];
      }
    }
    return istft(re, im, frames, n, hop, w, length);
  };
})();

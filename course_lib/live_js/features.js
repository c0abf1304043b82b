// The course's log-mel features (course_lib/features.py: LogMel) and their way back to an STFT
// magnitude. Feature layout: Float64Array [n_mels * frames], band-major (band m, frame t at m * frames + t).
CL.features = (() => {
  function hann(n) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
    return w;
  }

  // Power spectrogram [frames][bins], centred frames of the zero-padded clip, normalised so that a
  // full-scale sine has a peak-bin power of 1 (LogMel.power).
  function power(x, cfg) {
    const n = cfg.n_fft, hop = cfg.hop_length, bins = n / 2 + 1, w = hann(n);
    const scale = w.reduce((a, b) => a + b, 0) / 2;
    const frames = 1 + Math.floor(x.length / hop), out = [];
    const re = new Float64Array(n), im = new Float64Array(n);
    for (let t = 0; t < frames; t++) {
      const start = t * hop - n / 2;
      for (let i = 0; i < n; i++) {
        const j = start + i;
        re[i] = j >= 0 && j < x.length ? x[j] * w[i] : 0;
        im[i] = 0;
      }
      CL.fft.radix2(re, im, false);
      const p = new Float64Array(bins);
      for (let k = 0; k < bins; k++) p[k] = (re[k] * re[k] + im[k] * im[k]) / (scale * scale);
      out.push(p);
    }
    return out;
  }

  // Features in [0, 1]: 0 is the floor (floor_db), 1 is 0 dB. mel.bands: [{start, weights}] (librosa, norm=None).
  function logmel(x, cfg, mel) {
    const spec = power(x, cfg), frames = spec.length, nm = mel.length, out = new Float64Array(nm * frames);
    const floor = cfg.floor_db, minPower = Math.pow(10, floor / 10);
    for (let m = 0; m < nm; m++) {
      const { start, weights } = mel[m];
      for (let t = 0; t < frames; t++) {
        let acc = 0;
        const p = spec[t];
        for (let i = 0; i < weights.length; i++) acc += weights[i] * p[start + i];
        out[m * frames + t] = (10 * Math.log10(Math.max(acc, minPower)) - floor) / -floor;
      }
    }
    return out;
  }

  // The mel bands as flat typed arrays (built once per mel matrix): band m's weights are
  // weights[offsets[m]:offsets[m + 1]], applying to bins starts[m], starts[m] + 1, ...
  function packed(mel) {
    if (mel.packed) return mel.packed;
    const nm = mel.length, offsets = new Int32Array(nm + 1), starts = new Int32Array(nm);
    mel.forEach((band, m) => { offsets[m + 1] = offsets[m] + band.weights.length; starts[m] = band.start; });
    const weights = new Float64Array(offsets[nm]), norms = new Float64Array(nm);
    mel.forEach((band, m) => {
      weights.set(band.weights, offsets[m]);
      norms[m] = band.weights.reduce((a, c) => a + c, 0);
    });
    return (mel.packed = { nm, offsets, starts, weights, norms });
  }

  // STFT magnitude [frames][bins] (in the scale of an unnormalised FFT) whose mel bands match the
  // features: non-negative least squares by multiplicative updates, started from each band's power
  // spread evenly over its bins (energy-preserving: the triangles of neighbouring bands sum to 1).
  function toMagnitude(features, frames, cfg, mel, nIter = 30) {
    const n = cfg.n_fft, bins = n / 2 + 1, floor = cfg.floor_db, scale = n / 4; // sum(Hann) / 2
    const { nm, offsets, starts, weights, norms } = packed(mel);
    const out = [], y = new Float64Array(nm), p = new Float64Array(bins), num = new Float64Array(bins);
    const den = new Float64Array(bins), fit = new Float64Array(nm);
    for (let t = 0; t < frames; t++) {
      p.fill(0);
      num.fill(0);
      for (let m = 0; m < nm; m++) {
        y[m] = Math.pow(10, (features[m * frames + t] * -floor + floor) / 10);
        for (let j = offsets[m], k = starts[m]; j < offsets[m + 1]; j++, k++) {
          p[k] += (weights[j] * y[m]) / norms[m];
          num[k] += weights[j] * y[m];
        }
      }
      for (let it = 0; it < nIter; it++) {
        den.fill(0);
        for (let m = 0; m < nm; m++) {
          let acc = 0;
          for (let j = offsets[m], k = starts[m]; j < offsets[m + 1]; j++, k++) acc += weights[j] * p[k];
          fit[m] = acc;
        }
        for (let m = 0; m < nm; m++) {
          for (let j = offsets[m], k = starts[m]; j < offsets[m + 1]; j++, k++) den[k] += weights[j] * fit[m];
        }
        for (let k = 0; k < bins; k++) if (den[k] > 0) p[k] *= num[k] / den[k];
      }
      const mag = new Float64Array(bins);
      for (let k = 0; k < bins; k++) mag[k] = Math.sqrt(p[k]) * scale;
      out.push(mag);
    }
    return out;
  }

  return { hann, power, logmel, toMagnitude };
})();

// The page side of course_lib/live.py: sliders, the canvas, Web Audio playback at one fixed gain,
// and a registry (CourseLive.widgets[id]) through which the tests drive each widget.
CL.widgets = {};
CL.audioContext = null;

// Draw values [rows * cols] (row 0 = lowest band when flip) on a canvas with a colour table.
CL.draw = function draw(canvas, values, rows, cols, lut, vmin, vmax, flip) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(cols, rows);
  for (let r = 0; r < rows; r++) {
    const src = flip ? rows - 1 - r : r;
    for (let c = 0; c < cols; c++) {
      const v = (values[src * cols + c] - vmin) / (vmax - vmin);
      const i = Math.max(0, Math.min(255, Math.round(v * 255))), o = 4 * (r * cols + c);
      img.data[o] = lut[3 * i]; img.data[o + 1] = lut[3 * i + 1]; img.data[o + 2] = lut[3 * i + 2];
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
};

// Play samples at sr Hz times one fixed gain (no normalisation). Returns false if audio is unavailable.
CL.play = function play(samples, sr, gain) {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return false;
  CL.audioContext = CL.audioContext || new Context();
  const ctx = CL.audioContext, buffer = ctx.createBuffer(1, samples.length, sr), ch = buffer.getChannelData(0);
  for (let i = 0; i < samples.length; i++) ch[i] = samples[i] * gain;
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  source.start();
  return true;
};

// Griffin-Lim audio of log-mel features [n_mels * frames] (band-major).
CL.featuresToAudio = function featuresToAudio(features, frames, cfg, mel, nIter, length) {
  const mag = CL.features.toMagnitude(features, frames, cfg, mel);
  return CL.griffinLim(mag, cfg.n_fft, cfg.hop_length, nIter, length);
};

// What a decoder widget shows: its decoder's output as log-mel features or as an image.
CL.decoderOutput = function decoderOutput(d, layers, z) {
  const out = CL.mlp.forward(layers, z), o = d.output;
  if (o.type !== "level_channel") return out;
  const n = out.length - 1, level = (out[n] / o.level_gain) * o.std + o.mean, result = new Float64Array(n);
  for (let i = 0; i < n; i++) result[i] = Math.min(1, Math.max(0, out[i] - o.relative_range + level));
  return result;
};

CL.mount = function mount(uid) {
  const root = document.getElementById(uid);
  const d = JSON.parse(document.getElementById(`${uid}-data`).textContent);
  const isSynth = d.kind === "synth", isImage = d.output && d.output.type === "image";
  let layers = null, encoder = null;
  if (!isSynth) {
    const flat = CL.mlp.decodeWeights(document.getElementById(`${uid}-weights`).textContent.trim());
    layers = CL.mlp.build(d.layers, flat);
    if (d.words) { // SCAN's symbol encoder: its weights follow the decoder's
      const used = layers.reduce((n, l) => n + l.nIn * l.nOut + l.nOut, 0);
      encoder = CL.mlp.build(d.words.layers, flat.subarray(used));
    }
  }
  const [rows, cols] = d.shape;
  const canvas = root.querySelector("canvas"), status = root.querySelector(".cl-status");
  const sliders = Array.from(root.querySelectorAll("input[type=range]"));
  const state = { timings: [], audio: null };

  const value = (i) => {
    const s = d.sliders[i], x = Number(sliders[i].value);
    return s.log ? s.min * Math.pow(s.max / s.min, x) : x;
  };
  const params = () => {
    const p = Object.assign({}, d.constants || {});
    d.sliders.forEach((s, i) => { p[s.name] = value(i); });
    return p;
  };
  const label = (i) => {
    const s = d.sliders[i], v = value(i);
    const text = s.unit ? `${v.toPrecision(3)} ${s.unit}` : v.toFixed(2);
    root.querySelectorAll(".cl-value")[i].textContent = text;
  };
  const api = {
    data: d,
    state,
    decode: (z) => Array.from(CL.decoderOutput(d, layers, z)),
    render: (p) => CL.synth.render(p, d.seed, d.clip_id, d.duration),
    logmel: (x) => CL.features.logmel(x, d.features, d.mel),
    encodeWords: (khot) => Array.from(CL.mlp.forward(encoder, khot)),
    toAudio: (f, frames, length, nIter = d.n_iter || 32) =>
      CL.featuresToAudio(f, frames, d.features, d.mel, nIter, length),
  };
  // Redraw the canvas; with sound, also make the clip (and time it from the slider's release).
  function update(sound) {
    const t0 = performance.now();
    let shown, audio = null;
    if (isSynth) {
      audio = api.render(params());
      shown = api.logmel(audio);
    } else {
      shown = CL.decoderOutput(d, layers, sliders.map((s, i) => value(i)));
      if (sound && !isImage) audio = api.toAudio(shown, cols, d.length);
    }
    CL.draw(canvas, shown, rows, cols, d.lut, d.vmin, d.vmax, !isImage);
    sliders.forEach((s, i) => label(i));
    if (audio) state.audio = audio;
    if (audio && sound) {
      state.timings.push(performance.now() - t0);
      if (sound === "play") CL.play(audio, d.sr, d.gain);
    }
  }
  sliders.forEach((s) => {
    s.addEventListener("input", () => update(false));
    s.addEventListener("change", () => update("play"));
  });
  root.querySelector(".cl-reset").addEventListener("click", () => {
    sliders.forEach((s, i) => { s.value = d.sliders[i].start; });
    update("play");
  });
  const playButton = root.querySelector(".cl-play");
  if (playButton) playButton.addEventListener("click", () => {
    if (!state.audio) update(true);
    if (!CL.play(state.audio, d.sr, d.gain)) status.textContent = "This browser has no Web Audio.";
  });
  const sample = root.querySelector(".cl-sample");
  if (sample) sample.addEventListener("click", () => { // z ~ q(z | ticked words), on the sliders
    const khot = Array.from(root.querySelectorAll(".cl-word")).map((b) => (b.checked ? 1 : 0));
    const out = api.encodeWords(khot), n = sliders.length;
    sliders.forEach((s, i) => {
      const gauss = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
      s.value = out[i] + Math.exp(0.5 * out[n + i]) * gauss;
    });
    update("play");
  });
  update(!isImage);
  CL.widgets[uid] = api;
};

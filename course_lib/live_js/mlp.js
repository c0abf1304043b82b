// A decoder's forward pass over typed arrays: float16 weights (base64) -> Float32Array layers,
// then y = act(W x + b) layer after layer (PyTorch's nn.Linear layout: W is [out, in], row-major).
CL.mlp = (() => {
  function halfToFloat(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * f * Math.pow(2, -24);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * Math.pow(2, e - 15);
  }
  const table = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);

  function decodeWeights(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const halves = new Uint16Array(bytes.buffer, 0, bytes.length / 2); // little-endian, as written
    const out = new Float32Array(halves.length);
    for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
    return out;
  }

  const activations = {
    identity: (v) => v,
    relu: (v) => (v > 0 ? v : 0),
    tanh: Math.tanh,
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    elu: (v) => (v > 0 ? v : Math.expm1(v)),
    softplus: (v) => (v > 20 ? v : Math.log1p(Math.exp(v))),
  };

  // spec: [{n_in, n_out, activation}] in order; flat: every layer's W then b.
  function build(spec, flat) {
    let offset = 0;
    return spec.map((layer) => {
      const W = flat.subarray(offset, (offset += layer.n_in * layer.n_out));
      const b = flat.subarray(offset, (offset += layer.n_out));
      return { W, b, nIn: layer.n_in, nOut: layer.n_out, act: activations[layer.activation] };
    });
  }

  function forward(layers, z) {
    let x = Float64Array.from(z);
    for (const { W, b, nIn, nOut, act } of layers) {
      const y = new Float64Array(nOut);
      for (let o = 0; o < nOut; o++) {
        let acc = b[o];
        const row = o * nIn;
        for (let i = 0; i < nIn; i++) acc += W[row + i] * x[i];
        y[o] = act(acc);
      }
      x = y;
    }
    return x;
  }

  return { decodeWeights, build, forward };
})();

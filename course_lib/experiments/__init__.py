"""Each chapter's experiment, one module each, run as a command: ``python -m course_lib.experiments.<name>``.

* ``kingma_welling`` (chapter 2): the K&W MNIST curves and the IWAE bound;
* ``likelihood`` (chapter 2): Burda et al.'s VAE and IWAE, test log-likelihood with 5,000 samples;
* ``beta_sweep`` (chapter 3): MLP beta-VAEs over betas and seeds, every disentanglement metric;
* ``weak_sweep`` (chapter 3): loudness-normalised inputs, beta-VAE against weakly supervised Ada-GVAE;
* ``recurrent_vs_mlp`` (chapter 4): recurrent-attention against MLP beta-VAEs on temporal presets;
* ``scan_eval`` (chapter 5): SCAN on a frozen beta-VAE against the number of labelled sounds.

Every module has the same shape: a frozen ``Settings`` dataclass with ``FULL`` (the committed results
file) and ``FAST`` (a smoke test) instances, chosen with ``config.pick`` (``--fast`` forces ``FAST``);
its model builders (``make_model``, all MLPs built by :func:`course_lib.models.vae.mlp_vae`), its
training (through :func:`course_lib.train.fit`), the function that makes one results row, and
``main()``. Each writes a small results file under ``results/`` that its chapter plots; the chapter
calls the same functions for its live demonstrations.
"""

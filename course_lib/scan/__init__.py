"""SCAN (chapter 5): symbols grounded in a frozen beta-VAE's latents, in the order the chapter uses them.

Taught in chapters/05_scan.ipynb.

* :mod:`course_lib.scan.symbols`: symbols and the operators AND, IN_COMMON, IGNORE, WITH;
* :mod:`course_lib.scan.vocabulary`: attributes over factor classes, words, named concepts, k-hot codes;
* :mod:`course_lib.scan.pairs`: (sound, symbol) pairs drawn on a factor grid (the few-label regime too);
* :mod:`course_lib.models.scan`: the SCAN model, its loss and the recombination operator (with the
  course's other models);
* :mod:`course_lib.scan.fitting`: training SCAN and the operators, decoding sounds from posteriors;
* :mod:`course_lib.scan.classifier`: the factor classifier that reads generated sounds;
* :mod:`course_lib.scan.scoring` and :mod:`course_lib.scan.baselines`: the scores and what they are
  compared with;
* :mod:`course_lib.experiments.scan_eval`: the chapter's experiment (settings, frozen sound model,
  few-label trials).
"""

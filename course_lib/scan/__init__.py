"""SCAN's helpers outside the model (the model and its training are :mod:`course_lib.models.scan`).

Chapter 5 (chapters/05_1_composed_sounds.ipynb, chapters/05_2_scan.ipynb) uses one dataset and one
symbol system, the composed sounds of :mod:`course_lib.composed_sounds`, and from this package:

* :mod:`course_lib.scan.readings`: what SCAN reads in a composed sound, and whether an imagined
  sound has what a phrase asked for;
* :mod:`course_lib.experiments.scan_compositional`: the chapter's experiment (frozen sound model,
  held-out combinations, few-label trials, the committed checkpoints).

Exercise sheet 5 (solutions/05_scan.ipynb) still works on chapter 1's toy grid with its own symbols;
its modules stay here: :mod:`~course_lib.scan.symbols` (symbols and AND, IN_COMMON, IGNORE, WITH),
:mod:`~course_lib.scan.vocabulary` (attributes over factor classes), :mod:`~course_lib.scan.pairs`,
:mod:`~course_lib.scan.fitting`, :mod:`~course_lib.scan.classifier`, :mod:`~course_lib.scan.scoring`,
:mod:`~course_lib.scan.baselines` and :mod:`course_lib.experiments.scan_eval`.
"""

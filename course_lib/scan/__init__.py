"""SCAN's helpers outside the model (the model and its training are :mod:`course_lib.models.scan`).

Chapter 5 (chapters/05_1_composed_sounds.ipynb, chapters/05_2_scan.ipynb) uses one dataset and one
symbol system, the composed sounds of :mod:`course_lib.composed_sounds`, and from this package:

* :mod:`course_lib.scan.readings`: what SCAN reads in a composed sound, and whether an imagined
  sound has what a phrase asked for;
* :mod:`course_lib.experiments.scan_compositional`: the chapter's experiment (frozen sound model,
  held-out combinations, few-label trials, the committed checkpoints).

Exercise sheet 5 (solutions/05_scan.ipynb) works on the same composed sounds, the same split and
the same committed checkpoints.
"""

"""Long experiments run as commands: ``python -m course_lib.experiments.<name>``.

Each writes a small results file under ``results/`` that a chapter plots.
"""

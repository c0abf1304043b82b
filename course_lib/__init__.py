"""course_lib: the small shared package of the course "Disentangling factors of variation in audio".

Every notebook imports it (``pip install -e .`` from the repository root). Each module holds one
idea and says in its docstring which chapter teaches it.
"""

__version__ = "0.1.0"

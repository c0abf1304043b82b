"""Disentanglement metrics, computed on the MEAN code of an encoder (chapters 3 and 4).

Taught in chapters/03_1_beta_vae.ipynb. Five published scores, following their papers and the defaults of
disentanglement_lib (Locatello et al. 2019); each module docstring says what the score measures and
where we depart from that library:

* :mod:`~course_lib.metrics.information`: :func:`mutual_information_matrix` and :func:`mig`
  (Mutual Information Gap, Chen et al. 2018); :func:`latent_factor_table` and :func:`factor_labels` name
  each latent by the factor it shares most with.
* :mod:`~course_lib.metrics.predictive`: :func:`dci` (Eastwood & Williams 2018) and :func:`sap`
  (Kumar et al. 2018).
* :mod:`~course_lib.metrics.interventional`: :func:`beta_vae_score` (Higgins et al. 2017) and
  :func:`factor_vae_score` (Kim & Mnih 2018), which hold a factor fixed through a ``represent`` callable;
  :func:`representation_from_codes` builds one from the precomputed codes of a full grid.
* :mod:`~course_lib.metrics.disentanglement`: :func:`evaluate_all`, every score in one flat dict.
"""

from course_lib.metrics.disentanglement import (
    DISENTANGLEMENT_LIB,
    FAST,
    REDUCED,
    MetricSettings,
    evaluate_all,
)
from course_lib.metrics.information import (
    factor_labels,
    histogram_discretise,
    latent_factor_table,
    mig,
    mutual_information_matrix,
)
from course_lib.metrics.interventional import beta_vae_score, factor_vae_score, representation_from_codes
from course_lib.metrics.predictive import dci, sap

__all__ = [
    "DISENTANGLEMENT_LIB",
    "FAST",
    "REDUCED",
    "MetricSettings",
    "beta_vae_score",
    "dci",
    "evaluate_all",
    "factor_labels",
    "factor_vae_score",
    "histogram_discretise",
    "latent_factor_table",
    "mig",
    "mutual_information_matrix",
    "representation_from_codes",
    "sap",
]

"""Official challenge metrics, bootstrap intervals and paired tests.

Pure numpy, so that scoring a run never pulls in torch or the harness, and so that a metric can be
checked against an independent reference (scikit-learn, the official CCC formula) in isolation.
"""

from scoring.attributes import ATTRIBUTE_NAMES, attribute_report, ccc, ccc_mean
from scoring.bootstrap import bootstrap_ci, bootstrap_distribution, paired_bootstrap
from scoring.categorical import (
    accuracy,
    classification_report,
    confusion_matrix,
    encode,
    macro_f1,
    per_class,
    uar,
)

__all__ = [
    "ATTRIBUTE_NAMES",
    "accuracy",
    "attribute_report",
    "bootstrap_ci",
    "bootstrap_distribution",
    "ccc",
    "ccc_mean",
    "classification_report",
    "confusion_matrix",
    "encode",
    "macro_f1",
    "paired_bootstrap",
    "per_class",
    "uar",
]

"""Speech emotion recognition challenge harness.

Kept import-light on purpose: the CLI must start in well under a second, so nothing here pulls in
torch, transformers or pandas.
"""

__version__ = "0.1.0"

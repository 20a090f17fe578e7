"""Pluggable systems. Each module defines one System; the harness finds it through
:mod:`harness.registry` and its defaults in ``systems/configs/<name>.yaml``."""

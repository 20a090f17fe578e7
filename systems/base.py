"""Re-export of the System contracts for plug-ins: they live in :mod:`harness.system`."""

from harness.system import FusionSystem, System, system_class

__all__ = ["FusionSystem", "System", "system_class"]

"""sweeps: run the BN placement study with Ray Tune (`python -m sweeps.bn_placement`)."""

from sweeps.spec import SpecError, SweepSpec, parse_spec

__all__ = ["SpecError", "SweepSpec", "parse_spec"]

"""Medians, ranges and percentiles: reps are summarized, never averaged away."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of some reps and their range, so run-to-run noise stays visible."""

    median: float
    low: float
    high: float

    @property
    def relative_range(self) -> float:
        """Half the range as a fraction of the median (the notes' "±x%")."""
        if self.median == 0:
            return 0.0
        return (self.high - self.low) / 2 / abs(self.median)

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "low": self.low, "high": self.high}


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def spread(values: Sequence[float]) -> Spread:
    """Median and range of the reps."""
    return Spread(median(values), float(min(values)), float(max(values)))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples, the way wrk reports it."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios, rep by rep: each rep's figure over the baseline of the same rep."""
    if len(numerators) != len(denominators):
        raise ValueError("ratios need one baseline per rep")
    return [n / d if d else math.nan for n, d in zip(numerators, denominators)]

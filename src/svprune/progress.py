"""Progress of long jobs, for their logs: how far, how long so far, and about how long is left (the rate so far
carried over to what remains)."""

from __future__ import annotations

import time


class Progress:
    """Counts ``total`` units of work (epochs, estimates, players removed) from creation."""

    def __init__(self, total: float):
        self.total, self.start = float(total), time.perf_counter()

    def __call__(self, done: float) -> str:
        elapsed = time.perf_counter() - self.start
        share = done / self.total if self.total else 1.0
        left = elapsed * (1 - share) / share if share > 0 else float("nan")
        eta = f", about {duration(left)} left" if 0 < share < 1 else ""
        return f"{100 * share:.0f}% after {duration(elapsed)}{eta}"


def duration(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

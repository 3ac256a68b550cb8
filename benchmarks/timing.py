"""Timing helpers the benchmark scripts share."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, repeat: int) -> float:
    """Median wall time of `fn()` in ms over `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)

"""Where ``compute_report``'s time goes: its pipeline timed step by step.

:func:`profile_compute` calls the private steps of :mod:`storemon._core.report` in
the order :func:`storemon.compute_report` calls them (read it side by side
with ``compute_report``), with a clock around each. Time-zone conversion
happens inside :func:`storemon._core.business_hours.business_intervals`; it is timed by
wrapping :func:`storemon._core.zones.local_to_utc_us` where ``hours`` looks it up,
in this process only, and subtracted from the business-hours step.

Polls are collected once after coercion (``coerce``; for valid polls a
cheap projection of the input frame), then read by ``store codes`` and
``timeline``.

If ``report.py`` is restructured, this module may fall behind: each profile
therefore checks that its result equals ``compute_report``'s and says so
(``matches_compute_report``); an error in a step is reported, not raised.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["profile_compute", "STEPS"]

#: Step names in pipeline order, with what each covers.
STEPS: dict[str, str] = {
    "coerce": "check and cast the three input frames (polls collected once)",
    "store codes": "every store id in any input, sorted, integer codes; latest poll",
    "store zones": "each store's zone (first known row, else the default)",
    "hours expansion": "weekly rows x local dates, clipping, always-open stores",
    "tz conversion": "local wall clock -> UTC per zone (fold=0)",
    "timeline": "polls in [window - horizon, now] joined to codes, packed NumPy sort, dedupe, midpoints, runs",
    "sweep": "events, packed NumPy sort, running sums, per-window shares",
    "figures": "ticks -> minutes/hours, one row per store, sorted",
}


def profile_compute(polls: Any, hours: Any, tz: Any, *, runs: int, warmup: int) -> dict[str, Any]:
    """Median seconds per step of ``compute_report`` over ``runs`` runs after ``warmup``.

    Returns ``steps`` (name → median seconds, pipeline order), ``steps_cpu``
    (the same in CPU seconds of this process, all threads), ``total_s``
    (median of the runs' summed steps), ``runs``, ``warmup`` and
    ``matches_compute_report`` (the last profiled report equals one
    ``compute_report`` call's); or ``error`` when a step no longer exists.
    """
    from storemon import compute_report

    per_step: dict[str, list[float]] = defaultdict(list)
    per_step_cpu: dict[str, list[float]] = defaultdict(list)
    totals = []
    try:
        for index in range(warmup + max(runs, 1)):
            clock = _StepClock()
            profiled = _profiled_report(polls, hours, tz, clock)
            if index < warmup:
                continue
            totals.append(sum(clock.seconds.values()))
            for name in STEPS:
                per_step[name].append(clock.seconds.get(name, 0.0))
                per_step_cpu[name].append(clock.cpu_seconds.get(name, 0.0))
    except (AttributeError, TypeError, ImportError) as exc:
        return {"error": f"profile is out of date with storemon._core.report: {type(exc).__name__}: {exc}"}
    return {
        "steps": {name: statistics.median(per_step[name]) for name in STEPS},
        "steps_cpu": {name: statistics.median(per_step_cpu[name]) for name in STEPS},
        "total_s": statistics.median(totals),
        "runs": len(totals),
        "warmup": warmup,
        "matches_compute_report": profiled.equals(compute_report(polls, hours, tz)),
    }


class _StepClock:
    """Accumulates seconds per step name: wall clock and this process's CPU time.

    On a shared machine a step's wall time includes waiting for a core; its
    CPU seconds (all threads) are the steadier measure of the work it does.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)

    def run(self, name: str, call: Callable[[], Any]) -> Any:
        started, started_cpu = time.perf_counter(), time.process_time()
        try:
            return call()
        finally:
            self.seconds[name] += time.perf_counter() - started
            self.cpu_seconds[name] += time.process_time() - started_cpu


def _profiled_report(polls: Any, hours: Any, tz: Any, clock: _StepClock) -> Any:
    """``compute_report(polls, hours, tz)`` with default parameters, one clock per step."""
    import storemon._core.business_hours as hours_module
    from storemon._core import report as r
    from storemon._core.business_hours import business_intervals
    from storemon._core.store_codes import store_table
    from storemon._core.sweep import measure_windows, segments
    from storemon._instants import TICKS_PER_US, to_ticks
    from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE, WEEK
    from storemon.schema import check_zone

    def coerce() -> tuple[Any, Any, Any, int]:
        check_zone(DEFAULT_TIMEZONE, "default time zone")
        tz_df = r._known_zone_rows(r._coerce_timezones(tz))
        return r._collected_polls(polls), r._coerce_hours(hours), tz_df, r.horizon_ticks(DEFAULT_HORIZON)

    polls_lf, hours_df, tz_df, horizons = clock.run("coerce", coerce)
    table = clock.run("store codes", lambda: store_table(polls_lf, hours_df, tz_df))
    stores = table.stores
    now_ticks = table.latest_poll_us * TICKS_PER_US
    window = (now_ticks - to_ticks(WEEK), now_ticks)
    zones = clock.run("store zones", lambda: r._store_zones(stores, tz_df, DEFAULT_TIMEZONE))

    convert = hours_module.local_to_utc_us
    tz_clock = _StepClock()
    hours_module.local_to_utc_us = lambda *a, **k: tz_clock.run("tz conversion", lambda: convert(*a, **k))
    try:
        business = clock.run("hours expansion", lambda: business_intervals(hours_df, zones, stores, window))
    finally:
        hours_module.local_to_utc_us = convert
    for measured, converted in ((clock.seconds, tz_clock.seconds), (clock.cpu_seconds, tz_clock.cpu_seconds)):
        measured["hours expansion"] -= converted["tz conversion"]
        measured["tz conversion"] = converted["tz conversion"]

    special = r._coerce_special(None)
    prepared = r.Prepared(table, polls_lf, hours_df, special, zones, now_ticks, horizons)
    status = clock.run("timeline", lambda: r._status(prepared, window))
    lengths = {name: to_ticks(length) for name, length in r._WINDOWS.items()}

    def sweep() -> Any:
        return measure_windows(segments(business, status).filter("business"), now_ticks, lengths)

    measured = clock.run("sweep", sweep)
    return clock.run("figures", lambda: r._figures(stores, measured))

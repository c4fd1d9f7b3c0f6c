"""Shared test configuration.

Hypothesis: the built-in ``ci`` profile (derandomized) is loaded when ``CI`` is
set; locally a ``dev`` profile keeps example counts modest so the suite stays fast.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

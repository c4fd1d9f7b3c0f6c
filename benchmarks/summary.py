"""Ratios, the targets of issue 5, the printed table and the results JSON.

The JSON written by :func:`write_results` (``benchmarks/results/<date>.json``)
has these keys; times are seconds, memory MiB:

``schema``        layout version of this file (1)
``date``, ``started_at``, ``elapsed_s``, ``command``
``machine``       :func:`machine.machine_info`; ``load_average`` at start and end
``method``        runs, warm-ups and how each stage is measured
``sizes``         per size: ``stores``, ``days``, ``polls``, ``generated_s``,
                  ``ingest_s`` (``null`` when cached), ``stages`` (``limit``,
                  ``load``, ``compute``, ``from_store``: each ``median_s``,
                  ``min_s``, ``times_s``, ``runs``, ``warmup``, ``peak_rss_mib``
                  … or ``error``), ``ratios``, ``profile`` (with ``--profile``)
``scaling``       per stage, ``S3/S1`` and ``S10/S1`` of the median times
``reference``     the subset comparison (``speedup``, ``max_abs_diff`` …)
``duckdb``        (inside each size measured against the baseline) per comparison
                  of :data:`versus.COMPARISONS`: ``storemon`` and ``duckdb`` (each
                  ``median_s``, ``times_s``, ``peak_rss_mib`` …), ``ratio`` (storemon
                  median / DuckDB median) and ``same_report``; or ``error``
``duckdb_version``  the duckdb package measured
``consistency``   whether compute and from_store produced the same report
``targets``       each target of issue 5: ``value``, ``limit``, ``met``
                  (``null`` when not measured)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "ratios",
    "scaling",
    "consistency",
    "targets",
    "format_table",
    "format_versus",
    "format_profile",
    "write_results",
]

MIB_PER_GIB = 1024
TIMED_STAGES = ("limit", "load", "compute", "from_store")


def median(stages: dict[str, Any], name: str) -> float | None:
    """A stage's median seconds, or ``None`` when it was not measured or failed."""
    stage = stages.get(name) or {}
    return stage.get("median_s")


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def ratios(stages: dict[str, Any]) -> dict[str, float | None]:
    """``load+compute/limit``, ``compute/limit`` and ``from_store/limit`` of one size."""
    limit, load, compute = median(stages, "limit"), median(stages, "load"), median(stages, "compute")
    return {
        "load+compute/limit": _ratio(None if load is None or compute is None else load + compute, limit),
        "compute/limit": _ratio(compute, limit),
        "from_store/limit": _ratio(median(stages, "from_store"), limit),
    }


def scaling(sizes: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per stage, each size's median over S1's (``S3/S1``, ``S10/S1``)."""
    if "S1" not in sizes:
        return {}
    base = sizes["S1"]["stages"]
    return {
        stage: {
            f"{name}/S1": _ratio(median(entry["stages"], stage), median(base, stage))
            for name, entry in sizes.items()
            if name != "S1"
        }
        for stage in TIMED_STAGES
    }


def consistency(sizes: dict[str, Any]) -> dict[str, bool | None]:
    """Per size: did ``compute`` and ``from_store`` produce the same report (row count and column sums)?"""
    verdicts: dict[str, bool | None] = {}
    for name, entry in sizes.items():
        digests = [(entry["stages"].get(stage) or {}).get("digest") for stage in ("compute", "from_store")]
        if None in digests:
            verdicts[name] = None
            continue
        a, b = digests
        verdicts[name] = a["rows"] == b["rows"] and all(
            abs(a["sums"][column] - b["sums"].get(column, float("nan"))) <= 1e-6 * max(1.0, abs(a["sums"][column]))
            for column in a["sums"]
        )
    return verdicts


def targets(sizes: dict[str, Any], reference: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every target of issue 5 with its measured value; ``met`` is ``None`` when not measured."""
    s1 = sizes.get("S1", {})
    s1_ratios = s1.get("ratios", {})
    s10_stages = sizes.get("S10", {}).get("stages", {})
    own = [
        (stage, s10_stages[stage].get("peak_rss_mib"))
        for stage in ("load", "compute", "from_store")
        if stage in s10_stages
    ]
    own = [(stage, rss) for stage, rss in own if rss is not None]
    worst = max(own, key=lambda pair: pair[1]) if own else None
    found = [
        ("compute <= 0.6 x limit at S1", s1_ratios.get("compute/limit"), 0.6, "<="),
        ("load + compute <= 2 x limit at S1", s1_ratios.get("load+compute/limit"), 2.0, "<="),
        ("from_store <= 1 x limit at S1", s1_ratios.get("from_store/limit"), 1.0, "<="),
        ("compute S10 / S1 <= 11", scaling(sizes).get("compute", {}).get("S10/S1"), 11.0, "<="),
        (
            "peak RSS at S10 <= 4 GiB" + (f" (largest: {worst[0]})" if worst else ""),
            worst[1] / MIB_PER_GIB if worst else None,
            4.0,
            "<=",
        ),
        ("compute_report >= 50 x faster than the reference", (reference or {}).get("speedup"), 50.0, ">="),
    ]
    return [
        {
            "target": name,
            "value": value,
            "limit": limit,
            "met": None if value is None else (value <= limit if op == "<=" else value >= limit),
        }
        for name, value, limit, op in found
    ]


# --- printing ------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rows(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=False))
        )
        for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_table(results: dict[str, Any]) -> str:
    """The human summary: times, peak RSS, ratios, scaling, reference, targets, failures."""
    sizes = results["sizes"]
    time_rows, rss_rows = [], []
    for name, entry in sizes.items():
        stages, r = entry["stages"], entry["ratios"]
        time_rows.append(
            [name, f"{entry['stores']:,}", f"{entry['polls']:,}" if entry.get("polls") else "n/a"]
            + [_seconds(median(stages, stage)) for stage in TIMED_STAGES]
            + [_number(r["load+compute/limit"]), _number(r["compute/limit"]), _number(r["from_store/limit"])]
        )
        rss_rows.append([name] + [_number((stages.get(stage) or {}).get("peak_rss_mib"), 0) for stage in TIMED_STAGES])
    parts = [
        "median seconds (runs after a warm-up; from_store: in a cold process, import excluded)",
        _rows(
            ["size", "stores", "polls", *TIMED_STAGES, "(load+compute)/limit", "compute/limit", "from_store/limit"],
            time_rows,
        ),
        "",
        "peak RSS, MiB (each stage in its own process)",
        _rows(["size", *TIMED_STAGES], rss_rows),
    ]
    cold = [
        f"{name} import {stage['import_s']:.2f} s, whole process {stage['process_wall_s']:.2f} s"
        for name, entry in sizes.items()
        if "import_s" in (stage := entry["stages"].get("from_store") or {})
    ]
    if cold:
        parts += ["", "from_store in a fresh process also pays the import of storemon and Polars: " + "; ".join(cold)]
    scale = results.get("scaling") or {}
    if scale and any(scale.values()):
        columns = list(next(iter(scale.values())))
        parts += [
            "",
            "scaling (median time / S1's)",
            _rows(["stage", *columns], [[stage, *(_number(v) for v in row.values())] for stage, row in scale.items()]),
        ]
    versus = format_versus(sizes, results.get("duckdb_version"))
    if versus:
        parts += ["", versus]
    reference = results.get("reference")
    if reference and "error" not in reference:
        parts += [
            "",
            f"reference ({reference['stores']} stores of {reference.get('size', 'S1')}, {reference['polls']:,} polls): "
            "compute_report "
            f"{reference['median_s']:.4f} s, reference {reference['reference_s']:.2f} s once -> "
            f"{reference['speedup']:.0f}x faster; max |difference| {reference['max_abs_diff']:.2e}",
        ]
    parts += ["", "targets (issue 5)"]
    for target in results["targets"]:
        mark = {True: "met ", False: "MISS", None: "n/a "}[target["met"]]
        parts.append(f"  [{mark}] {target['target']}: {_number(target['value'])}")
    problems = _problems(results)
    if problems:
        parts += ["", "problems"] + [f"  {line}" for line in problems]
    return "\n".join(parts)


def format_versus(sizes: dict[str, Any], version: str | None = None) -> str:
    """The storemon / DuckDB table: per size and comparison, both medians, the ratio, both peak RSS."""
    rows = []
    for name, entry in sizes.items():
        for comparison, result in (entry.get("duckdb") or {}).items():
            if "error" in result:
                rows.append([name, comparison, "failed", "", "", "", "", ""])
                continue
            mine, theirs = result["storemon"], result["duckdb"]
            same = {True: "yes", False: "NO", None: "n/a"}[result.get("same_report")]
            rows.append(
                [
                    name,
                    comparison,
                    _seconds(mine["median_s"]),
                    _seconds(theirs["median_s"]),
                    _number(result["ratio"]),
                    _number(mine.get("peak_rss_mib"), 0),
                    _number(theirs.get("peak_rss_mib"), 0),
                    same,
                ]
            )
    if not rows:
        return ""
    header = ["size", "comparison", "storemon s", "duckdb s", "storemon/duckdb", "RSS MiB", "duckdb RSS", "same"]
    title = "storemon vs DuckDB" + (f" {version}" if version else "") + " (median seconds; ratio > 1: DuckDB faster)"
    return title + "\n" + _rows(header, rows)


def _problems(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, entry in results["sizes"].items():
        for comparison, result in (entry.get("duckdb") or {}).items():
            if "error" in result:
                lines.append(f"{name} duckdb {comparison}: {result['error']}")
            elif result.get("same_report") is False:
                lines.append(f"{name} duckdb {comparison}: storemon and DuckDB produced different reports")
        for stage, result in entry["stages"].items():
            if result and "error" in result:
                lines.append(f"{name} {stage}: {result['error']}")
        profile = entry.get("profile")
        if profile and "error" in profile:
            lines.append(f"{name} profile: {profile['error']}")
        elif profile and not profile.get("matches_compute_report", True):
            lines.append(f"{name} profile: the profiled pipeline's report differs from compute_report's")
    for name, same in (results.get("consistency") or {}).items():
        if same is False:
            lines.append(f"{name}: from_store's report differs from compute's (row count or column sums)")
    reference = results.get("reference")
    if reference and "error" in reference:
        lines.append(f"reference: {reference['error']}")
    elif reference and (
        reference["max_abs_diff"] is None or reference["max_abs_diff"] > 1e-6 or not reference["same_stores"]
    ):
        lines.append("reference: compute_report and the reference disagree by more than 1e-6 (or on the stores)")
    return lines


def format_profile(name: str, profile: dict[str, Any], compute_s: float | None = None) -> str:
    """One size's per-step compute profile as a table; ``compute_s``: the compute stage's median."""
    if "error" in profile:
        return f"profile {name}: {profile['error']}"
    total = profile["total_s"] or 1.0
    rows = [[step, _seconds(seconds), f"{100 * seconds / total:.0f}%"] for step, seconds in profile["steps"].items()]
    rows.append(["sum of steps", _seconds(profile["total_s"]), "100%"])
    rows.append(["compute stage", _seconds(compute_s), ""])
    return f"where compute time goes at {name} (median of {profile['runs']} runs)\n" + _rows(
        ["step", "seconds", "share"], rows
    )


def write_results(results: dict[str, Any], path: Path) -> Path:
    """Write ``results`` as JSON through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    os.replace(partial, path)
    return path

"""Tests of the benchmark harness itself (not run by ``make test``).

Run with ``.venv/bin/pytest benchmarks/test_harness.py``. The end-to-end test
runs the whole harness on the tiny XS size (100 stores) in a temporary cache,
so it also catches :mod:`compute_profile` falling behind ``report.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402
import stages  # noqa: E402
from sizes import SIZES, Prepared, Size, parse_sizes, prepare_data, store_stamp  # noqa: E402
from summary import consistency, format_versus, ratios, scaling, targets  # noqa: E402
from versus import COMPARISONS  # noqa: E402
from workers import run_command, run_stage  # noqa: E402


def _stage(median_s: float, **extra: object) -> dict:
    return {"median_s": median_s, **extra}


def test_ratios_divide_by_limit_and_leave_missing_stages_out() -> None:
    found = ratios({"limit": _stage(2.0), "load": _stage(1.0), "compute": _stage(0.5), "from_store": {"error": "x"}})
    assert found == {"load+compute/limit": 0.75, "compute/limit": 0.25, "from_store/limit": None}


def test_scaling_is_relative_to_s1() -> None:
    sizes = {
        "S1": {"stages": {"compute": _stage(0.5)}},
        "S10": {"stages": {"compute": _stage(6.0), "load": {"error": "boom"}}},
    }
    found = scaling(sizes)
    assert found["compute"] == {"S10/S1": 12.0}
    assert found["load"] == {"S10/S1": None}


def test_targets_report_met_missed_and_unmeasured() -> None:
    sizes = {
        "S1": {
            "ratios": {"compute/limit": 0.5, "load+compute/limit": 2.5, "from_store/limit": None},
            "stages": {"compute": _stage(1.0)},
        },
        "S10": {"stages": {"compute": _stage(10.0, peak_rss_mib=5000.0), "load": _stage(20.0, peak_rss_mib=3000.0)}},
    }
    found = {target["target"].split(" (")[0]: target["met"] for target in targets(sizes, {"speedup": 49.0})}
    assert found == {
        "compute <= 0.6 x limit at S1": True,
        "load + compute <= 2 x limit at S1": False,
        "from_store <= 1 x limit at S1": None,
        "compute S10 / S1 <= 11": True,
        "peak RSS at S10 <= 4 GiB": False,
        "compute_report >= 50 x faster than the reference": False,
    }
    rss = next(target for target in targets(sizes, None) if target["target"].startswith("peak RSS"))
    assert "compute" in rss["target"] and rss["value"] == pytest.approx(5000 / 1024)


def test_consistency_flags_a_report_that_differs() -> None:
    same = {"rows": 2, "sums": {"uptime_last_hour": 1.5}}
    other = {"rows": 2, "sums": {"uptime_last_hour": 1.6}}
    sizes = {
        "A": {"stages": {"compute": {"digest": same}, "from_store": {"digest": same}}},
        "B": {"stages": {"compute": {"digest": same}, "from_store": {"digest": other}}},
        "C": {"stages": {"compute": {"digest": same}, "from_store": {"error": "n/a"}}},
    }
    assert consistency(sizes) == {"A": True, "B": False, "C": None}


def test_parse_sizes_keeps_order_and_rejects_unknown_names() -> None:
    assert [size.name for size in parse_sizes("S3, S1,S3")] == ["S3", "S1"]
    with pytest.raises(ValueError, match="S2"):
        parse_sizes("S1,S2")
    assert SIZES["S10"].stores == 10 * SIZES["S1"].stores


def test_a_size_in_parts_is_one_data_set_of_all_their_stores(tmp_path: Path) -> None:
    prepared = prepare_data(Size("T", 30, days=1, parts=2), tmp_path)
    polls = (prepared.data / "store_status.csv").read_text().splitlines()
    assert polls[0] == "store_id,timestamp_utc,status" and polls.count(polls[0]) == 1
    ids = {
        line.split(",")[0]
        for name in ("store_status", "menu_hours", "timezones")
        for line in (prepared.data / f"{name}.csv").read_text().splitlines()[1:]
    }
    assert len(ids) == 30
    assert SIZES["S30"].stores == 30 * SIZES["S1"].stores and SIZES["S30"].parts > 1


def test_versus_table_shows_ratios_and_failures() -> None:
    side = {"median_s": 2.0, "peak_rss_mib": 100.0}
    sizes = {
        "S1": {
            "duckdb": {
                "compute": {"storemon": side, "duckdb": {**side, "median_s": 4.0}, "ratio": 0.5, "same_report": True},
                "from_store": {"error": "boom"},
            }
        },
        "S3": {},
    }
    table = format_versus(sizes, "9.9")
    assert "DuckDB 9.9" in table
    assert [line.split() for line in table.splitlines()[3:]] == [
        ["S1", "compute", "2.000", "4.000", "0.50", "100", "100", "yes"],
        ["S1", "from_store", "failed"],
    ]
    assert format_versus({"S3": {}}) == ""


def test_run_command_reports_the_commands_own_peak_rss() -> None:
    ballast = b"x" * (400 * 2**20)  # resident here: a plain wait4 would report it for every child
    small = run_command([sys.executable, "-c", "pass"])
    large = run_command([sys.executable, "-c", "x = b'x' * (200 * 2**20)"])
    assert small["peak_rss_mib"] < 100 and 200 <= large["peak_rss_mib"] < 400, (small, large)
    assert small["median_s"] > 0
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"]) == {"error": "exit status 3"}
    del ballast


def test_measure_discards_warmup_runs() -> None:
    calls = []
    result, times = stages.measure(lambda: calls.append(1) or len(calls), runs=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and result == 5


def test_a_failing_stage_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_stage("compute", frames=tmp_path / "missing", runs=1, warmup=0)
    assert result["stage"] == "compute"
    assert "missing" in result["error"]


def test_whole_harness_on_the_smallest_size(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    argv = [
        "--sizes",
        "XS",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--profile",
        "--reference-size",
        "XS",
        "--duckdb-sizes",
        "XS",
        "--cache",
        str(tmp_path / "cache"),
        "--output",
        str(output),
    ]
    assert run.main(argv) == 0
    results = json.loads(output.read_text())
    xs = results["sizes"]["XS"]
    assert set(xs["duckdb"]) == set(COMPARISONS)
    for name, comparison in xs["duckdb"].items():
        assert "error" not in comparison, (name, comparison)
        for side in ("storemon", "duckdb"):
            assert comparison[side]["median_s"] > 0 and comparison[side]["peak_rss_mib"] > 0
        assert comparison["ratio"] == comparison["storemon"]["median_s"] / comparison["duckdb"]["median_s"]
        assert comparison["same_report"] is True, name
    assert results["duckdb_version"]
    for name in ("limit", "load", "compute", "from_store"):
        assert xs["stages"][name]["median_s"] > 0, xs["stages"][name]
        assert xs["stages"][name]["peak_rss_mib"] > 0
    assert xs["polls"] > 0 and xs["stages"]["compute"]["digest"]["rows"] == SIZES["XS"].stores
    assert results["consistency"] == {"XS": True}
    assert xs["profile"]["matches_compute_report"] is True
    assert set(xs["profile"]["steps"]) >= {"tz conversion", "timeline", "sweep"}
    reference = results["reference"]
    assert reference["same_stores"] and reference["max_abs_diff"] <= 1e-6
    assert reference["stores"] == SIZES["XS"].stores
    assert results["machine"]["cores"] >= 1 and results["machine"]["polars"]


def test_a_cached_store_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    """The store's stamp records the store format: a cache written by format 1 never matches it."""
    from storemon.store._manifest import FORMAT

    prepared = Prepared(SIZES["XS"], tmp_path, None)
    prepared.data.mkdir()
    assert store_stamp(prepared) is None  # no data set yet: nothing can match
    (prepared.data / ".stamp.json").write_text(json.dumps({"stores": 1}))
    assert store_stamp(prepared) == {"stores": 1, "store_format": FORMAT}
    assert store_stamp(prepared) != {"stores": 1}  # what a store-stamp written before the format was recorded holds

"""The ``storemon`` console script, run as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from storemon import REPORT_COLUMNS

STOREMON = shutil.which("storemon", path=str(Path(sys.executable).parent)) or shutil.which("storemon")
HEADER = "store_id," + ",".join(REPORT_COLUMNS)


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert STOREMON, "the storemon console script is not installed"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    full_env.update(env or {})
    return subprocess.run([STOREMON, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The README's worked example: open Wed 09:00-12:00 Chicago, polls 16:14 up / 17:15 down UTC."""
    data = tmp_path / "example"
    write(
        data,
        "store_status.csv",
        "store_id,timestamp_utc,status\na,2024-01-03 16:14:00 UTC,active\na,2024-01-03 17:15:00 UTC,inactive\n",
    )
    write(data, "menu_hours.csv", "store_id,dayOfWeek,start_time_local,end_time_local\na,2,09:00:00,12:00:00\n")
    write(data, "timezones.csv", "store_id,timezone_str\na,America/Chicago\n")
    return data


def test_worked_example_from_the_readme(example: Path):
    result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", "-")
    assert result.returncode == 0, result.stderr
    # Up 15:00-16:44:30 UTC = 1.741667 h of the 3 business hours; the last hour is all down.
    assert result.stdout.splitlines() == [HEADER, "a,0.0,1.74,1.74,60.0,1.26,1.26"]
    assert "1 stores" in result.stderr and "now 2024-01-03T18:00:00Z" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_file_is_written_with_the_seven_columns(example: Path, tmp_path: Path):
    out = tmp_path / "out" / "report.csv"
    result = run("report", str(example), "--now", "2024-01-03 18:00:00 UTC", "-o", str(out))
    assert result.returncode == 0, result.stderr
    frame = pl.read_csv(out)
    assert frame.columns == ["store_id", *REPORT_COLUMNS]
    assert frame.row(0) == ("a", 0.0, 1.74, 1.74, 60.0, 1.26, 1.26)
    assert str(out) in result.stderr
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_default_now_is_the_latest_poll(example: Path):
    result = run("report", str(example), "-o", "-")
    assert result.returncode == 0, result.stderr
    assert "now 2024-01-03T17:15:00Z" in result.stderr
    # now = 17:15: last hour [16:15, 17:15) is business time; up until the midpoint 16:44:30
    # (29.5 min up, 30.5 down). The week [Dec 27 17:15, Jan 3 17:15) also holds the end of the
    # previous Wednesday, Dec 27 17:15-18:00 UTC, which the 16:14 poll reaches (8-day horizon):
    # week up = 1.741667 + 0.75 = 2.49 h.
    assert result.stdout.splitlines()[1] == "a,29.5,1.74,2.49,30.5,0.51,0.51"


def test_now_and_options_from_the_environment(example: Path):
    result = run("report", str(example), "-o", "-", env={"STOREMON_NOW": "2024-01-03T18:00:00Z"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "a,0.0,1.74,1.74,60.0,1.26,1.26"


def test_horizon_option_limits_how_far_a_poll_reaches(example: Path):
    # With a 30-minute horizon the 16:14 poll covers only [15:44, 16:44:00), the 17:15 one is inactive.
    result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "--horizon", "30m", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "a,0.0,1.0,1.0,60.0,2.0,2.0"


def test_explicit_paths_with_2023_names_and_column_order(tmp_path: Path):
    data = tmp_path / "d2023"
    polls = write(data, "store status.csv", "store_id,status,timestamp_utc\n7,active,2024-01-03 16:14:00.5 UTC\n")
    hours = write(data, "Menu hours.csv", "store_id,day,start_time_local,end_time_local\n7,2,09:00:00,12:00:00\n")
    zones = write(data, "bq-results-20230125-202210-1674678181880.csv", "store_id,timezone_str\n7,America/Chicago\n")
    by_dir = run("report", str(data), "--now", "2024-01-03T18:00:00Z", "-o", "-")
    explicit = run(
        "report",
        "--polls",
        str(polls),
        "--hours",
        str(hours),
        "--timezones",
        str(zones),
        "--now",
        "2024-01-03T18:00:00Z",
        "-o",
        "-",
    )
    assert by_dir.returncode == explicit.returncode == 0, by_dir.stderr + explicit.stderr
    assert by_dir.stdout == explicit.stdout
    assert by_dir.stdout.splitlines()[1] == "7,60.0,3.0,3.0,0.0,0.0,0.0"


def test_invalid_rows_are_summarised_and_listed(example: Path, tmp_path: Path):
    write(
        example,
        "store_status.csv",
        "store_id,timestamp_utc,status\na,2024-01-03 16:14:00 UTC,active\na,yesterday,active\n"
        "a,2024-01-03 17:15:00 UTC,maybe\n",
    )
    rejects = tmp_path / "rejects.csv"
    result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", "-", "--rejects", str(rejects))
    assert result.returncode == 0, result.stderr
    assert "2 rejected rows" in result.stderr
    listed = pl.read_csv(rejects, infer_schema=False)
    assert listed.select("line", "column", "value").rows() == [
        ("3", "timestamp_utc", "yesterday"),
        ("4", "status", "maybe"),
    ]
    # Only the 16:14 active poll remains: up from the 15:00 opening to 18:00.
    assert result.stdout.splitlines()[1] == "a,60.0,3.0,3.0,0.0,0.0,0.0"


def test_strict_mode_stops_at_the_first_invalid_row(example: Path):
    write(
        example,
        "menu_hours.csv",
        "store_id,dayOfWeek,start_time_local,end_time_local\na,2,09:00:00,12:00:00\na,9,09:00:00,12:00:00\n",
    )
    result = run("report", str(example), "--strict", "-o", "-")
    assert result.returncode == 2
    assert "menu_hours.csv" in result.stderr and "line 3" in result.stderr
    assert "dayOfWeek" in result.stderr and "'9'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "last tuesday"], "bad --now"),
        (["--horizon", "forever-ish"], "bad horizon"),
        (["--default-timezone", "Mars/Olympus"], "unknown default time zone"),
    ],
)
def test_bad_options_exit_2_with_a_message(example: Path, args: list[str], message: str):
    result = run("report", str(example), "-o", "-", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_inputs_exit_2(tmp_path: Path):
    result = run("report", str(tmp_path / "nowhere"), "-o", "-")
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr

    result = run("report", "-o", "-")
    assert result.returncode == 2 and "give DATA_DIR" in result.stderr


def test_file_without_required_column_exit_2(example: Path):
    write(example, "timezones.csv", "store_id,zone\na,America/Chicago\n")
    result = run("report", str(example), "-o", "-")
    assert result.returncode == 2
    assert "timezones.csv" in result.stderr and "timezone_str" in result.stderr


def test_unwritable_output_is_an_error_not_a_traceback(example: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("report", str(example), "-o", str(blocker / "report.csv"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "error" in result.stderr


def test_generate_then_report(tmp_path: Path):
    out = tmp_path / "gen"
    generated = run("generate", str(out), "--stores", "25", "--days", "2", "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    assert sorted(p.name for p in out.iterdir()) == ["menu_hours.csv", "store_status.csv", "timezones.csv"]
    report = run("report", str(out), "-o", "-")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0] == HEADER and len(lines) == 1 + 25


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2
    assert "report" in result.stderr and "generate" in result.stderr

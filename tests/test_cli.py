"""The ``storemon`` console script, run as a real subprocess."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import storemon
from storemon import FORMATS, REPORT_COLUMNS, _cli

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
        (["--now", "last tuesday"], "bad --now 'last tuesday'"),
        (["--now", "0001-01-01T00:00:00Z"], "--now 0001-01-01T00:00:00Z is out of range"),
        (["--horizon", "forever-ish"], "bad horizon 'forever-ish'"),
        # A bare number used to mean hours; now it must say which unit, and the message lists them.
        (["--horizon", "36"], "bad horizon '36': the number needs a unit: w (weeks), d (days), h (hours)"),
        (["--horizon", "5y"], "unknown unit 'y'"),
        (["--horizon", "99999999999d"], "bad horizon '99999999999d': too long"),
        (["--horizon", "9" * 400 + "s"], "too long"),
        (["--default-timezone", "Mars/Olympus"], "unknown default time zone"),
        (["--format", "xlsx"], "'xlsx' is not one of 'csv', 'parquet', 'jsonl'"),
        (["--rejects", "-"], "'-' (stdout) is for -o only"),
    ],
)
def test_bad_options_exit_2_with_a_message(example: Path, args: list[str], message: str):
    result = run("report", str(example), "-o", "-", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


SAID = {"2w": "14d", "1.5h": "90m"}


def test_every_horizon_unit_and_inf(example: Path):
    rows = {}
    for horizon in ["2w", "8d", "36h", "90m", "1.5h", "45s", "inf"]:
        result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "--horizon", horizon, "-o", "-")
        assert result.returncode == 0, result.stderr
        assert f"horizon {SAID.get(horizon, horizon)}," in result.stderr
        rows[horizon] = result.stdout.splitlines()[1]
    assert rows["inf"] == rows["2w"] == rows["8d"] == rows["36h"] == "a,0.0,1.74,1.74,60.0,1.26,1.26"
    # 45 s: the active 16:14 poll reaches 45 s either side, 90 s = 0.025 h up; the rest is unknown, so down.
    assert rows["45s"] == "a,0.0,0.02,0.02,60.0,2.98,2.98"
    assert rows["90m"] == rows["1.5h"]


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


def test_generate_into_a_file_is_an_io_error_exit_1(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run("generate", str(blocker), "--stores", "2", "--days", "1")
    assert result.returncode == 1
    assert "cannot write the data set to" in result.stderr and str(blocker) in result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "x"


def test_a_bad_number_in_the_environment_is_a_usage_error_and_help_still_works(tmp_path: Path):
    helped = run("generate", "--help", env={"STOREMON_GENERATE_STORES": "abc"})
    assert helped.returncode == 0, helped.stderr
    assert "STOREMON_GENERATE_STORES" in helped.stdout and "Traceback" not in helped.stderr

    result = run("generate", str(tmp_path / "out"), env={"STOREMON_GENERATE_STORES": "abc"})
    assert result.returncode == 2
    assert "--stores" in result.stderr and "STOREMON_GENERATE_STORES='abc'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_command_variables_win_over_shared_ones_and_the_command_line_over_both(example: Path):
    env = {"STOREMON_NOW": "2024-01-03T17:15:00Z", "STOREMON_REPORT_NOW": "2024-01-03T18:00:00Z"}
    result = run("report", str(example), "-o", "-", env=env)
    assert result.returncode == 0, result.stderr
    assert "now 2024-01-03T18:00:00Z" in result.stderr
    given = run("report", str(example), "-o", "-", "--now", "2024-01-03T17:15:00Z", env=env)
    assert "now 2024-01-03T17:15:00Z" in given.stderr

    # Flags and paths too: STOREMON_STRICT, STOREMON_OUTPUT, STOREMON_DATA_DIR for the argument.
    write(example, "timezones.csv", "store_id,timezone_str\na,Mars/Olympus\n")
    strict = run("report", env={"STOREMON_DATA_DIR": str(example), "STOREMON_STRICT": "1", "STOREMON_OUTPUT": "-"})
    assert strict.returncode == 2 and "Mars/Olympus" in strict.stderr
    lenient = run("report", env={"STOREMON_DATA_DIR": str(example), "STOREMON_OUTPUT": "-"})
    assert lenient.returncode == 0 and lenient.stdout.startswith(HEADER)


def test_generate_format_does_not_read_the_report_output_format(tmp_path: Path):
    # STOREMON_FORMAT is the report's output format; generate's --format reads STOREMON_GENERATE_FORMAT only.
    out = tmp_path / "gen"
    env = {"STOREMON_FORMAT": "parquet", "STOREMON_GENERATE_FORMAT": "2023"}
    result = run("generate", str(out), "--stores", "3", "--days", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert "store status.csv" in {p.name for p in out.iterdir()}


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"storemon {storemon.__version__}\n"


# --- output formats and special files -------------------------------------------------------


def exact_report(data: Path, now: str = "2024-01-03T18:00:00Z") -> pl.DataFrame:
    inputs = storemon.load_dir(data)
    return storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones, storemon.parse_instant(now))


def test_parquet_and_json_lines_by_extension_keep_the_exact_figures(example: Path, tmp_path: Path):
    write(example, "store_status.csv", (example / "store_status.csv").read_text() + "a,yesterday,active\n")
    expected = exact_report(example)
    for name, read in [("r.parquet", pl.read_parquet), ("r.jsonl", pl.read_ndjson), ("r.ndjson", pl.read_ndjson)]:
        out, rejects = tmp_path / name, tmp_path / f"rejects-{name}"
        result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", str(out), "--rejects", str(rejects))
        assert result.returncode == 0, result.stderr
        assert_frame_equal(read(out), expected, check_dtypes=False)
        assert read(out)["uptime_last_day"].item() == pytest.approx(1 + 44.5 / 60)  # not rounded
        assert read(rejects)["value"].to_list() == ["yesterday"]


def test_format_option_wins_over_the_extension_and_applies_to_stdout(example: Path, tmp_path: Path):
    out = tmp_path / "named.csv"
    result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "--format", "parquet", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"PAR1"
    assert_frame_equal(pl.read_parquet(out), exact_report(example), check_dtypes=False)

    jsonl = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "--format", "jsonl", "-o", "-")
    assert jsonl.returncode == 0, jsonl.stderr
    assert_frame_equal(pl.read_ndjson(jsonl.stdout.encode()), exact_report(example), check_dtypes=False)

    parquet = subprocess.run(
        [STOREMON, "report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", "-"],
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")} | {"STOREMON_FORMAT": "parquet"},
        timeout=120,
    )
    assert parquet.returncode == 0, parquet.stderr
    assert_frame_equal(pl.read_parquet(io.BytesIO(parquet.stdout)), exact_report(example), check_dtypes=False)


def test_csv_on_stdout_is_spreadsheet_safe_like_the_file(example: Path, tmp_path: Path):
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        write(example, name, (example / name).read_text().replace("\na,", "\n=cmd,"))
    out = tmp_path / "r.csv"
    to_stdout = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", "-")
    to_file = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", str(out))
    assert to_stdout.returncode == to_file.returncode == 0, to_stdout.stderr + to_file.stderr
    # An id beginning with "=" is an invalid store id (docs/rules.md, "The inputs"): its rows
    # are rejected, so no formula reaches either output in the first place.
    assert not any(line.lstrip("'").startswith("=") for line in to_stdout.stdout.splitlines())
    assert to_stdout.stdout == out.read_text()


def test_a_fifo_a_symlink_and_a_character_device_are_written_into(example: Path, tmp_path: Path):
    expected = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", "-").stdout

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with ThreadPoolExecutor(1) as pool:
        received = pool.submit(fifo.read_text)  # blocks until the CLI opens the FIFO for writing
        result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", str(fifo))
        assert result.returncode == 0, result.stderr
        assert received.result(timeout=60) == expected
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)

    target = tmp_path / "elsewhere" / "target.csv"
    target.parent.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and target.read_text() == expected

    null = tmp_path / "null"  # our own /dev/null (1, 3), made here; the real /dev is never touched
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for fmt in FORMATS:
        result = run("report", str(example), "--now", "2024-01-03T18:00:00Z", "-o", str(null), "--format", fmt)
        assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)


# --- the bundled sample --------------------------------------------------------------------------


def test_sample_prints_its_directory_and_copies_it_without_overwriting(tmp_path: Path):
    printed = run("sample")
    assert printed.returncode == 0, printed.stderr
    assert Path(printed.stdout.strip()) == storemon.sample_dir()
    names = ["menu_hours.csv", "store_status.csv", "timezones.csv"]
    assert sorted(p.name for p in storemon.sample_dir().glob("*.csv")) == names

    copy = tmp_path / "new" / "sample"
    result = run("sample", str(copy))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in copy.iterdir()) == names
    for name in names:
        assert (copy / name).read_bytes() == (storemon.sample_dir() / name).read_bytes()

    (copy / "timezones.csv").write_text("mine\n")
    (copy / "menu_hours.csv").unlink()
    again = run("sample", str(copy))
    assert again.returncode == 2
    assert "timezones.csv" in again.stderr and "not overwriting" in again.stderr and "Traceback" not in again.stderr
    assert (copy / "timezones.csv").read_text() == "mine\n"
    assert not (copy / "menu_hours.csv").exists()  # all or nothing

    report = run("report", printed.stdout.strip(), "-o", "-")
    assert report.returncode == 0 and len(report.stdout.splitlines()) == 1 + 50


def test_sample_into_a_file_is_an_io_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run("sample", str(blocker / "sub"))
    assert result.returncode == 1 and str(blocker) in result.stderr and "Traceback" not in result.stderr


# --- in process: the error boundary and the README ---------------------------------------------


def test_ctrl_c_exits_130_without_a_traceback(example: Path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "load_dir", interrupted)
    assert _cli.main(["report", str(example), "-o", "-"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_readme_synopsis_matches_the_commands():
    """Every command and option of the CLI is in the README's synopsis, and nothing else is."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    synopsis = [line.strip() for line in section.strip().split("\n\n", 1)[0].splitlines()]
    documented: dict[str, set[str]] = {}
    command = ""
    for line in synopsis:
        if line.startswith("storemon "):
            command = line.split()[1]
            documented.setdefault(command, set())
        documented[command] |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line)) - {"--help", "-h"}
        if "[the inputs and options of report]" in line:  # timeline, incidents, daily: report's, then their own
            documented[command] |= documented["report"]
    actual = {name: {opt for param in cmd.params for opt in param.opts if opt.startswith("-")}
              for name, cmd in _cli.cli.commands.items()}  # fmt: skip
    actual["--version"] = {"--version"}
    assert documented == actual
    for text in ("STOREMON_<COMMAND>_<OPTION>", "STOREMON_<OPTION>", "STOREMON_GENERATE_FORMAT", "130"):
        assert text in section


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2
    assert "report" in result.stderr and "generate" in result.stderr


# --- in process, through click's CliRunner (fast) ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8d", timedelta(days=8)),
        ("36h", timedelta(hours=36)),
        (" 90m ", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        ("1.5H", timedelta(minutes=90)),
        ("inf", None),
        ("INF", None),
    ],
)
def test_parse_horizon(text: str, expected: timedelta | None):
    assert _cli.parse_horizon(text) == expected
    assert _cli.parse_horizon(_cli.describe_horizon(expected)) == expected  # the summary's spelling reads back


@pytest.mark.parametrize("text", ["8", "0", "1.5", "-3h", "8 days", "h", "", "1e3h", "99999999999d"])
def test_parse_horizon_refuses(text: str):
    with pytest.raises(storemon.ConfigError, match=re.escape(repr(text))):
        _cli.parse_horizon(text)


def test_cli_runner_sees_the_same_boundary(example: Path):
    runner = CliRunner()
    ok = runner.invoke(_cli.cli, ["report", str(example), "-o", "-"], env={"STOREMON_NOW": "2024-01-03T18:00:00Z"})
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines()[1] == "a,0.0,1.74,1.74,60.0,1.26,1.26"
    bad = runner.invoke(_cli.cli, ["report", str(example), "--horizon", "12"])
    assert bad.exit_code == 2 and "needs a unit" in bad.stderr


# --- timeline, incidents, daily ------------------------------------------------------------
# The worked example: open Wed 2024-01-03 09:00-12:00 Chicago = 15:00-18:00 UTC; polls 16:14 active,
# 17:15 inactive; now 18:00Z. The status changes halfway, at 16:44:30; the 8-day horizon reaches
# back over the whole week. The previous Wednesday's hours (2023-12-27 15:00-18:00Z) end exactly at
# the week's start (18:00Z), so the week holds 3 business hours.

NOW = "2024-01-03T18:00:00Z"


def test_timeline_of_the_worked_example(example: Path):
    result = run("timeline", str(example), "--now", NOW, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "store_id,start,end,business,status",
        "a,2023-12-27T18:00:00Z,2024-01-03T15:00:00Z,false,active",
        "a,2024-01-03T15:00:00Z,2024-01-03T16:44:30Z,true,active",
        "a,2024-01-03T16:44:30Z,2024-01-03T18:00:00Z,true,inactive",
    ]
    assert "3 segments" in result.stderr


def test_timeline_with_a_short_active_horizon_and_a_range(example: Path):
    # Active horizon 30 min: 16:14 is believed over 15:44-16:44 only; the inactive poll (8 d) reaches
    # back to the midpoint 16:44:30, so 16:44-16:44:30 is unknown, and so is everything before 15:44.
    result = run("timeline", str(example), "--now", NOW, "--start", "2024-01-03T12:00:00Z", "--horizon-active", "30m",
                 "-o", "-")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "a,2024-01-03T12:00:00Z,2024-01-03T15:00:00Z,false,unknown",
        "a,2024-01-03T15:00:00Z,2024-01-03T15:44:00Z,true,unknown",
        "a,2024-01-03T15:44:00Z,2024-01-03T16:44:00Z,true,active",
        "a,2024-01-03T16:44:00Z,2024-01-03T16:44:30Z,true,unknown",
        "a,2024-01-03T16:44:30Z,2024-01-03T18:00:00Z,true,inactive",
    ]
    assert "horizon active 30m" in result.stderr


def test_incidents_of_the_worked_example_with_min_minutes(example: Path, tmp_path: Path):
    # 16:44:30-18:00 = 75.5 min, all inactive.
    result = run("incidents", str(example), "--now", NOW, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "store_id,start,end,minutes,inactive_minutes,unknown_minutes",
        "a,2024-01-03T16:44:30Z,2024-01-03T18:00:00Z,75.5,75.5,0.0",
    ]
    # With a 30-minute active horizon: 15:00-15:44 (44 min unknown) and 16:44-18:00 (76 = 0.5 + 75.5);
    # --min-minutes 50 keeps the second only.
    args = ["incidents", str(example), "--now", NOW, "--horizon-active", "30m"]
    assert run(*args, "-o", "-").stdout.splitlines()[1:] == [
        "a,2024-01-03T15:00:00Z,2024-01-03T15:44:00Z,44.0,0.0,44.0",
        "a,2024-01-03T16:44:00Z,2024-01-03T18:00:00Z,76.0,75.5,0.5",
    ]
    assert run(*args, "--min-minutes", "50", "-o", "-").stdout.splitlines()[1:] == [
        "a,2024-01-03T16:44:00Z,2024-01-03T18:00:00Z,76.0,75.5,0.5",
    ]
    # Parquet keeps the exact instants (nanoseconds, UTC).
    out = tmp_path / "incidents.parquet"
    assert run(*args, "--min-minutes", "50", "-o", str(out)).returncode == 0
    frame = pl.read_parquet(out)
    assert frame.schema == storemon.INCIDENTS_SCHEMA
    assert frame["minutes"].to_list() == [76.0]
    bad = run("incidents", str(example), "--now", NOW, "--min-minutes", "-1", "-o", "-")
    assert bad.returncode == 2 and "--min-minutes" in bad.stderr


def test_daily_of_the_worked_example(example: Path):
    # Chicago dates 2023-12-27 (from 12:00 local) to 2024-01-03 (until 12:00 local): 8 rows, only
    # 2024-01-03 has business time: 3 h, up 15:00-16:44:30 = 1.741667 h, ratio 0.580556.
    result = run("daily", str(example), "--now", NOW, "-o", "-")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "store_id,date,business_hours,uptime_hours,downtime_hours,uptime_ratio"
    assert lines[1] == "a,2023-12-27,0.0,0.0,0.0,"
    assert lines[-1] == "a,2024-01-03,3.0,1.74,1.26,0.5806"
    assert len(lines) == 9
    # A range of that local day only (00:00 Chicago = 06:00Z), and a --store-id that has no rows.
    one = run("daily", str(example), "--now", NOW, "--start", "2024-01-03T06:00:00Z", "--store-id", "a",
              "--store-id", "nobody", "-o", "-")  # fmt: skip
    assert one.stdout.splitlines()[1:] == ["a,2024-01-03,3.0,1.74,1.26,0.5806"]
    empty = run("daily", str(example), "--now", NOW, "--store-id", "nobody", "-o", "-")
    assert empty.returncode == 0 and empty.stdout.splitlines() == [lines[0]]


def test_range_commands_refuse_a_bad_range(example: Path):
    result = run("timeline", str(example), "--now", NOW, "--start", "2024-01-03T19:00:00Z", "-o", "-")
    assert result.returncode == 2
    assert "start < end" in result.stderr and "Traceback" not in result.stderr


def test_special_hours_file_and_horizons_on_report(example: Path, tmp_path: Path):
    # A special row closes 2024-01-03: no business time left. Given with --special beside the three files.
    special = write(tmp_path, "special.csv", "store_id,date_local,start_time_local,end_time_local\na,2024-01-03,,\n")
    files = [f"--{role}={example / name}" for role, name in
             (("polls", "store_status.csv"), ("hours", "menu_hours.csv"), ("timezones", "timezones.csv"))]  # fmt: skip
    result = run("report", *files, "--special", str(special), "--now", NOW, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [HEADER, "a,0.0,0.0,0.0,0.0,0.0,0.0"]
    # The same file found in the data directory by its name.
    shutil.copy(special, example / "special_hours.csv")
    assert run("report", str(example), "--now", NOW, "-o", "-").stdout == result.stdout
    # --horizon-inactive 10m: 17:15 inactive is believed over 17:05-17:25 only; 16:44:30-17:05 and
    # 17:25-18:00 become unknown, which is down too: the report does not change, the timeline does.
    (example / "special_hours.csv").unlink()
    timeline = run("timeline", str(example), "--now", NOW, "--horizon-inactive", "10m", "--start",
                   "2024-01-03T15:00:00Z", "-o", "-")  # fmt: skip
    assert timeline.stdout.splitlines()[1:] == [
        "a,2024-01-03T15:00:00Z,2024-01-03T16:44:30Z,true,active",
        "a,2024-01-03T16:44:30Z,2024-01-03T17:05:00Z,true,unknown",
        "a,2024-01-03T17:05:00Z,2024-01-03T17:25:00Z,true,inactive",
        "a,2024-01-03T17:25:00Z,2024-01-03T18:00:00Z,true,unknown",
    ]
    both = run("report", str(example), "--special", str(special), "--now", NOW, "-o", "-")
    assert both.returncode == 2 and "not both" in both.stderr


def test_range_commands_over_a_store_match_the_files(example: Path, tmp_path: Path):
    store = tmp_path / "store"
    assert run("ingest", str(example), "--store", str(store)).returncode == 0
    for command in ("timeline", "incidents", "daily"):
        files = run(command, str(example), "--horizon-active", "30m", "-o", "-")
        stored = run(command, "--store", str(store), "--horizon-active", "30m", "-o", "-")
        assert stored.returncode == 0, stored.stderr
        assert stored.stdout == files.stdout and "from store" in stored.stderr
    by_env = run("incidents", "-o", "-", env={"STOREMON_STORE": str(store), "STOREMON_INCIDENTS_MIN_MINUTES": "80"})
    assert by_env.returncode == 0 and by_env.stdout.splitlines()[1:] == []


def test_csv_instants_carry_a_fraction_only_when_needed(example: Path):
    # Polls at 16:14:00.000001 and 17:15:00: the status changes halfway, at 16:44:30.0000005 — half a
    # microsecond, so nine digits; whole seconds are written without a fraction.
    polls = example / "store_status.csv"
    polls.write_text(polls.read_text().replace("16:14:00 UTC", "16:14:00.000001 UTC"))
    result = run("timeline", str(example), "--now", NOW, "--start", "2024-01-03T15:00:00Z", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "a,2024-01-03T15:00:00Z,2024-01-03T16:44:30.000000500Z,true,active",
        "a,2024-01-03T16:44:30.000000500Z,2024-01-03T18:00:00Z,true,inactive",
    ]

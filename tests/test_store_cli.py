"""``storemon ingest``, ``storemon compact`` and ``storemon report --store``."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storemon import report_from_store
from storemon._cli import main
from storemon._generate import generate_dataset
from storemon.store._manifest import read_manifest

END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)
STOREMON = shutil.which("storemon", path=str(Path(sys.executable).parent)) or "storemon"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, stores=25, days=9, seed=3, end=END)
    with open(out / "store_status.csv", "a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(["s-bad", "not a time", "active"])
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().err


def test_ingest_then_report_from_store_writes_the_same_csv(dataset: Path, tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    status, err = run(capsys, "ingest", str(dataset), "--store", str(store))
    assert status == 0
    assert "polls appended" in err and "1 rejected" in err and "3 of 3 sources ingested" in err
    assert "rejected 1 × unparsable timestamp" in err

    for extra in ([], ["--now", "2024-10-11T08:30:00Z", "--horizon", "inf"]):
        status, err = run(capsys, "report", "--store", str(store), "-o", str(tmp_path / "from-store.csv"), *extra)
        assert status == 0, err
        status, err = run(capsys, "report", str(dataset), "-o", str(tmp_path / "from-files.csv"), *extra)
        assert status == 0, err
        assert (tmp_path / "from-store.csv").read_bytes() == (tmp_path / "from-files.csv").read_bytes()


def test_ingest_twice_says_nothing_to_do(dataset: Path, tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    assert run(capsys, "ingest", str(dataset / "store_status.csv"), "--store", str(store))[0] == 0
    status, err = run(capsys, "ingest", str(dataset / "store_status.csv"), "--store", str(store))
    assert status == 0
    assert "already ingested" in err and "0 of 1 sources ingested" in err
    assert len(read_manifest(store).ingests) == 1


def test_store_comes_from_the_environment(dataset: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("STOREMON_STORE", str(store))
    assert run(capsys, "ingest", str(dataset))[0] == 0
    status, err = run(capsys, "report", "-o", str(tmp_path / "r.csv"), "--rejects", str(tmp_path / "rejects.csv"))
    assert status == 0, err
    assert pl.read_csv(tmp_path / "r.csv").height == 25
    rejects = pl.read_csv(tmp_path / "rejects.csv")
    assert rejects["value"].to_list() == ["not a time"]


def test_compact_keeps_the_report(dataset: Path, tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    raw = pl.read_csv(dataset / "store_status.csv", infer_schema=False)
    halves = [tmp_path / "a.csv", tmp_path / "b.csv"]
    raw.gather_every(2).write_csv(halves[0])
    raw.gather_every(2, offset=1).write_csv(halves[1])
    for path in [dataset / "menu_hours.csv", dataset / "timezones.csv", *halves]:
        assert run(capsys, "ingest", str(path), "--store", str(store))[0] == 0
    assert run(capsys, "report", "--store", str(store), "-o", str(tmp_path / "before.csv"))[0] == 0
    parts = len(read_manifest(store).parts)
    status, err = run(capsys, "compact", "--store", str(store))
    assert status == 0 and "part files" in err
    assert len(read_manifest(store).parts) < parts
    assert run(capsys, "report", "--store", str(store), "-o", str(tmp_path / "after.csv"))[0] == 0
    assert (tmp_path / "before.csv").read_bytes() == (tmp_path / "after.csv").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "DATA"], "give --store"),
        (["compact"], "give --store"),
        (["report", "--store", "STORE", "DATA"], "not both"),
        (["report", "--store", "MISSING"], "not a storemon store"),
        (["compact", "--store", "MISSING"], "not a storemon store"),
        (["ingest", "MISSING", "--store", "STORE"], "no such file"),
    ],
)
def test_usage_errors_exit_2_with_a_message(dataset: Path, tmp_path: Path, capsys, monkeypatch, argv, message) -> None:
    monkeypatch.delenv("STOREMON_STORE", raising=False)
    names = {"DATA": str(dataset), "STORE": str(tmp_path / "store"), "MISSING": str(tmp_path / "missing")}
    status, err = run(capsys, *(names.get(arg, arg) for arg in argv))
    assert status == 2
    assert message in err and "Traceback" not in err


def test_ingest_refuses_to_make_a_store_inside_a_data_directory(dataset: Path, capsys) -> None:
    # Pointing --store at the data directory by mistake must not mix store files into it.
    before = sorted(p.name for p in dataset.iterdir())
    status, err = run(capsys, "ingest", str(dataset), "--store", str(dataset))
    assert status == 2
    assert "other files and no data store" in err and "Traceback" not in err
    assert sorted(p.name for p in dataset.iterdir()) == before


def test_a_creation_killed_before_its_descriptor_is_created_again(dataset: Path, tmp_path: Path) -> None:
    # What a kill between taking the commit lock and writing the descriptor
    # leaves: the lock file alone. The next ingest makes the store there.
    store = tmp_path / "store"
    store.mkdir()
    (store / ".commit.lock").touch()
    assert main(["ingest", str(dataset), "--store", str(store)]) == 0
    assert read_manifest(store).parts


def test_a_damaged_part_is_exit_1_with_a_message_not_a_traceback(dataset: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert main(["ingest", str(dataset), "--store", str(store)]) == 0
    part = store / read_manifest(store).parts[0].path
    part.write_bytes(b"PAR1 this is no longer a parquet file PAR1")

    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    result = subprocess.run(
        [STOREMON, "report", "--store", str(store), "-o", str(tmp_path / "r.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert str(store) in result.stderr and "unreadable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r.csv").exists()


def test_a_damaged_manifest_is_exit_1_but_a_directory_without_one_is_exit_2(
    dataset: Path, tmp_path: Path, capsys
) -> None:
    store = tmp_path / "store"
    assert run(capsys, "ingest", str(dataset / "menu_hours.csv"), "--store", str(store))[0] == 0
    (store / "manifest.json").write_text("{ not json")
    status, err = run(capsys, "report", "--store", str(store), "--now", "2024-10-14T12:00:00Z", "-o", "-")
    assert status == 1 and "damaged manifest" in err

    status, err = run(capsys, "report", "--store", str(dataset), "-o", "-")
    assert status == 2 and "Invalid value for '--store'" in err and "not a storemon store" in err


def test_report_from_a_store_in_every_format(dataset: Path, tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    assert run(capsys, "ingest", str(dataset), "--store", str(store))[0] == 0
    expected = report_from_store(store)
    for name, read in [("r.parquet", pl.read_parquet), ("r.jsonl", pl.read_ndjson)]:
        status, err = run(capsys, "report", "--store", str(store), "-o", str(tmp_path / name))
        assert status == 0, err
        assert_frame_equal(read(tmp_path / name), expected, check_dtypes=False)
    status, err = run(capsys, "report", "--store", str(store), "-o", str(tmp_path / "rej"), "--rejects",
                      str(tmp_path / "rejects.jsonl"), "--format", "jsonl")  # fmt: skip
    assert status == 0, err
    assert pl.read_ndjson(tmp_path / "rejects.jsonl")["value"].to_list() == ["not a time"]
    assert_frame_equal(pl.read_ndjson(tmp_path / "rej"), expected, check_dtypes=False)

"""Benchmark sizes and their cached data sets.

Each size is a synthetic, 2024-shaped data set written by
:func:`storemon._generate.generate_dataset` with a fixed seed, so every run of
the benchmark measures the same files. Data sets are cached under
``benchmarks/cache/<size>/`` (ignored by git)::

    <size>/data/      store_status.csv, menu_hours.csv, timezones.csv
    <size>/frames/    the typed frames of the last ``load`` stage (Arrow IPC)
    <size>/store/     a data store with ``data/`` ingested (``storemon ingest``)
    <size>/parquet/   typed Parquet copies of the three CSV files (:func:`prepare_parquet`)

(the store's stamp lives next to it, in ``<size>/store-stamp/``, so that the
store directory holds nothing but the store).

A cache entry is reused only when its stamp matches the size's parameters and
the source of the generator, so an edited generator regenerates the data (and
a regenerated data set re-creates the store); a store's stamp also records
the store format it was written in, so a cache built by another format is
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "Size",
    "SIZES",
    "DEFAULT_SIZES",
    "Prepared",
    "parse_sizes",
    "prepare_data",
    "prepare_store",
    "store_stamp",
    "prepare_parquet",
    "write_parquet_copies",
]

_STAMP = ".stamp.json"
_SEED = 5  # issue 5; the same seed for every size


@dataclass(frozen=True)
class Size:
    """One benchmark size: ``stores`` stores polled for ``days`` days.

    ``csv_runs`` caps the measured runs of the stages that parse the whole
    polls CSV (``load`` and ``limit``) for sizes where five of them would not
    fit the time budget of ``make bench``; ``None`` means no cap.

    ``parts`` > 1 generates the data set as that many independent data sets
    of ``stores / parts`` stores each (seeds ``seed``, ``seed + 1``, …; their
    random store ids do not collide), concatenated: the generator refuses
    more than :data:`storemon._generate.MAX_POLLS` polls in one go.
    """

    name: str
    stores: int
    days: int = 11
    seed: int = _SEED
    csv_runs: int | None = None
    parts: int = 1


#: The sizes of issue 5 (S1 is the real data set's size), plus XS for smoke tests.
SIZES: dict[str, Size] = {
    "XS": Size("XS", 100),
    "S1": Size("S1", 3_700),
    "S3": Size("S3", 11_100),
    "S10": Size("S10", 37_000, csv_runs=3),
    # Only with ``run.py --s30``: about 56 M polls, generated as three S10-sized parts.
    "S30": Size("S30", 111_000, csv_runs=1, parts=3),
}

#: What ``make bench`` measures when no ``--sizes`` is given.
DEFAULT_SIZES: tuple[str, ...] = ("S1", "S3", "S10")


@dataclass(frozen=True)
class Prepared:
    """A size's cache directory, its data set and what preparing it cost."""

    size: Size
    root: Path
    generated_s: float | None  # None when the cached data set was reused

    @property
    def data(self) -> Path:
        """Directory with the three CSV files."""
        return self.root / "data"

    @property
    def frames(self) -> Path:
        """Directory where the ``load`` stage leaves the typed frames for later stages."""
        return self.root / "frames"

    @property
    def parquet(self) -> Path:
        """Directory with typed Parquet copies of the CSV files (see :func:`prepare_parquet`)."""
        return self.root / "parquet"

    @property
    def store(self) -> Path:
        """The data store holding ``data`` (see :func:`prepare_store`)."""
        return self.root / "store"


def parse_sizes(text: str) -> list[Size]:
    """``"S1,S3"`` → the sizes, in the order given; raises ValueError on an unknown name."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SIZES]
    if unknown or not names:
        raise ValueError(f"unknown size(s) {', '.join(unknown) or text!r}: choose from {', '.join(SIZES)}")
    return [SIZES[name] for name in dict.fromkeys(names)]


def prepare_data(size: Size, cache: Path) -> Prepared:
    """Generate the size's data set unless an up-to-date copy is cached."""
    root = cache / size.name
    stamp = _data_stamp(size)
    if _read_stamp(root / "data") == stamp:
        return Prepared(size, root, None)
    from storemon._generate import generate_dataset

    shutil.rmtree(root, ignore_errors=True)  # frames and store belong to the old data
    staging = cache / f".{size.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    if size.parts == 1:
        generate_dataset(staging, stores=size.stores, days=size.days, seed=size.seed, fmt="2024")
    else:
        _generate_in_parts(size, staging)
    elapsed = time.perf_counter() - started
    _write_stamp(staging, stamp)
    root.mkdir(parents=True, exist_ok=True)
    staging.rename(root / "data")
    return Prepared(size, root, elapsed)


def _generate_in_parts(size: Size, out: Path) -> None:
    """``size.parts`` generated data sets, each file's rows appended to the first part's file."""
    from storemon._generate import generate_dataset

    for part in range(size.parts):
        directory = out if part == 0 else out / f".part-{part}"
        stores = size.stores // size.parts + (1 if part < size.stores % size.parts else 0)
        files = generate_dataset(directory, stores=stores, days=size.days, seed=size.seed + part, fmt="2024")
        if part == 0:
            continue
        for path in (files.polls, files.hours, files.timezones):
            with path.open("rb") as source, (out / path.name).open("ab") as target:
                source.readline()  # the header, already in the first part's file
                shutil.copyfileobj(source, target, 1 << 24)
        shutil.rmtree(directory)


def prepare_store(prepared: Prepared, *, rebuild: bool = False) -> float | None:
    """Ingest the data set into ``prepared.store`` unless done already.

    Runs ``storemon ingest DATA --store DIR`` in a subprocess (as a user
    would). Returns the ingest's wall time, or ``None`` when the cached store
    was reused. Raises RuntimeError when the ingest fails.
    """
    stamp = store_stamp(prepared)
    stamp_dir = prepared.root / "store-stamp"
    if not rebuild and prepared.store.is_dir() and _read_stamp(stamp_dir) == stamp:
        return None
    shutil.rmtree(prepared.store, ignore_errors=True)
    storemon = Path(sys.executable).with_name("storemon")
    started = time.perf_counter()
    done = subprocess.run(
        [str(storemon), "ingest", str(prepared.data), "--store", str(prepared.store)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        shutil.rmtree(prepared.store, ignore_errors=True)
        raise RuntimeError(f"storemon ingest failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    stamp_dir.mkdir(exist_ok=True)
    _write_stamp(stamp_dir, stamp)
    return elapsed


def store_stamp(prepared: Prepared) -> dict | None:
    """The stamp a cached store of ``prepared.data`` must carry: the data's stamp and the store format.

    A store written by another format (the old single-manifest layout, which
    this storemon refuses to open) has another stamp, so it is rebuilt.
    """
    from storemon.store._manifest import FORMAT

    stamp = _read_stamp(prepared.data)
    return None if stamp is None else {**stamp, "store_format": FORMAT}


def prepare_parquet(prepared: Prepared) -> float | None:
    """Write typed Parquet copies of the data set's CSV files unless done already.

    Returns the time it took, or ``None`` when the cached copies were reused.
    """
    stamp = _read_stamp(prepared.data)
    if prepared.parquet.is_dir() and _read_stamp(prepared.parquet) == stamp:
        return None
    shutil.rmtree(prepared.parquet, ignore_errors=True)
    staging = prepared.root / ".parquet.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    write_parquet_copies(prepared.data, staging)
    elapsed = time.perf_counter() - started
    _write_stamp(staging, stamp)
    staging.rename(prepared.parquet)
    return elapsed


def write_parquet_copies(data: Path, out: Path) -> None:
    """The three CSV files of a generated (2024-layout) data set as typed Parquet files in ``out``.

    Typed as a data engineer would store them: ``timestamp_utc`` a UTC
    timestamp (µs), ``dayOfWeek`` Int8, the times of day Time; ids, statuses
    and zone names text. Same file names with ``.parquet``, so that both
    ``storemon.load_dir`` and the DuckDB baseline find them.
    """
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    text = pl.String
    polls = pl.read_csv(data / "store_status.csv", schema={"store_id": text, "timestamp_utc": text, "status": text})
    polls = polls.with_columns(
        pl.col("timestamp_utc").str.to_datetime("%Y-%m-%d %H:%M:%S%.f UTC", time_unit="us", time_zone="UTC")
    )
    hours = pl.read_csv(data / "menu_hours.csv", infer_schema=False).with_columns(
        pl.col("dayOfWeek").cast(pl.Int8),
        pl.col("start_time_local", "end_time_local").str.to_time("%H:%M:%S"),
    )
    zones = pl.read_csv(data / "timezones.csv", infer_schema=False)
    for name, frame in (("store_status", polls), ("menu_hours", hours), ("timezones", zones)):
        frame.write_parquet(out / f"{name}.parquet")


def _data_stamp(size: Size) -> dict:
    import storemon._generate

    source = Path(storemon._generate.__file__).read_bytes()
    stamp = {**asdict(size), "csv_runs": None, "generator_sha256": hashlib.sha256(source).hexdigest()}
    if size.parts == 1:
        del stamp["parts"]  # the stamps of one-part sizes stay those of the caches written before parts existed
    return stamp


def _read_stamp(directory: Path) -> dict | None:
    try:
        return json.loads((directory / _STAMP).read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(directory: Path, stamp: dict) -> None:
    (directory / _STAMP).write_text(json.dumps(stamp, sort_keys=True))

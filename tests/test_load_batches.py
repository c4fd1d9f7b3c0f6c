"""``load_polls`` reads and validates a polls file in batches; the result is that of the whole file at once.

A polls file is read ``storemon._load._POLL_BATCH_ROWS`` rows at a time, each
batch validated on its own, the store ids of each coded through a hash
dictionary (``_IdCodes``) and gathered back as strings from its list. Every
rule is a rule about one row, so the frame, the rejects (line numbers
included) and strict mode's first error must not depend on where the
batches are cut: the properties load random files, CSV and Parquet, with
tiny batches and with one batch and compare. Hash collisions of store ids
are forced to check the exact fallback.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storemon._load
from storemon import InvalidRowError, Loaded, load_polls
from test_load_typed import as_text_csv, parquet, same, typed_polls

ONE_BATCH = 10**9


def load(source: bytes, rows: int, **options: object) -> Loaded:
    with mock.patch.object(storemon._load, "_POLL_BATCH_ROWS", rows):
        return load_polls(source, name="p", **options)  # type: ignore[arg-type]


def first_error(source: bytes, rows: int) -> tuple[object, ...] | None:
    try:
        load(source, rows, strict=True)
    except InvalidRowError as exc:
        return (str(exc), exc.file, exc.line, exc.column, exc.value)
    return None


@settings(max_examples=60)
@given(typed_polls(), st.integers(1, 4), st.booleans())
def test_batches_load_like_one_batch(frame: pl.DataFrame, rows: int, future: bool) -> None:
    not_after = datetime(2024, 1, 2, tzinfo=UTC) if future else None
    for source in (parquet(frame), as_text_csv(frame)):
        whole = load(source, ONE_BATCH, not_after=not_after)
        same(load(source, rows, not_after=not_after), whole)
        assert whole.frame.schema == storemon.POLLS_SCHEMA
        assert first_error(source, rows) == first_error(source, ONE_BATCH)


def by_length(ids: pl.Series, seed: int) -> pl.Series:
    """A "hash" under which every two ids of the same length collide."""
    return ids.str.len_bytes().cast(pl.UInt64)


def polls_csv(ids: list[str]) -> bytes:
    lines = ["store_id,timestamp_utc,status"]
    lines += [f"{store},2024-01-01 00:00:{i:02d} UTC,active" for i, store in enumerate(ids)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("rows", [1, 2, 3, ONE_BATCH])
def test_ids_sharing_a_hash_are_coded_by_their_strings(rows: int) -> None:
    # With batches of 2: [a, bb] codes by hash (lengths 1 and 2 differ);
    # [c, bb] finds c on a's hash (both length 1), so the exact check fails
    # and this batch and the rest are coded by their strings: c, then dd.
    ids = ["a", "bb", "c", "bb", "a", "dd", "c"]
    source = polls_csv(ids)
    expected = load(source, ONE_BATCH)
    with mock.patch.object(storemon._load, "_id_hash", by_length):
        collided = load(source, rows)
    same(collided, expected)
    assert collided.frame["store_id"].to_list() == ids


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["a", "b", "cc", "dd", "e", " ", "ü", "=x"]), max_size=12), st.integers(1, 4))
def test_colliding_ids_in_any_order_and_batches(ids: list[str], rows: int) -> None:
    source = polls_csv(ids)
    expected = load(source, ONE_BATCH)
    with mock.patch.object(storemon._load, "_id_hash", by_length):
        same(load(source, rows), expected)


def test_every_column_is_chunked_like_the_batches() -> None:
    # A Parquet file of 12 row groups of 5 rows arrives in one chunk per row
    # group; the store ids are gathered in one chunk per batch. Batches of 20
    # rows: 60 rows → 3 batches, and every column must have those 3 chunks,
    # or the next select or filter of the frame copies all of it to align them.
    rows = 60
    polls = pl.DataFrame(
        {
            "store_id": [f"s{i % 7}" for i in range(rows)],
            "timestamp_utc": [f"2024-01-01 00:{i:02d}:00.0 UTC" for i in range(rows)],
            "status": ["active", "inactive"] * (rows // 2),
        }
    )
    buffer = io.BytesIO()
    polls.write_parquet(buffer, row_group_size=5)
    loaded = load(buffer.getvalue(), 20)
    assert loaded.frame.height == rows
    assert [column.n_chunks() for column in loaded.frame.get_columns()] == [3, 3, 3]

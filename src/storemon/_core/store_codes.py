"""The stores of a report, and a dense integer code for each.

Every later step sorts and groups polls by store; doing that on integer codes
instead of string ids is what keeps a report fast (hashing and comparing
millions of UUID-sized strings dominated the run time before). So polls meet
their store through a 64-bit *fingerprint* of the id — Polars' string hash,
far cheaper than a hash-table lookup of the string itself.

The stores are the *distinct* ids of the inputs: one pass over the polls'
ids (a hash set of strings, which stays small — one entry per store — as
the polls grow) lists them, and everything else about a store is computed on
that short list. Fingerprints could collide, so they are checked there,
exactly: the fingerprint of every distinct id must be distinct. Should the
check fail the table falls back to joining on the id strings (slower, same
result). No collision can slip through: a fingerprint that is distinct over
all distinct ids names one id.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

__all__ = ["StoreTable", "store_table", "polls_with_codes", "valid_store_id", "MAX_STORE_ID_LENGTH"]

#: The longest valid store id, in code points (docs/rules.md, "The inputs").
MAX_STORE_ID_LENGTH = 256
# C0 controls, DEL and C1 controls. Lone surrogates need no check: Polars
# strings are UTF-8, which cannot hold one (a CSV holding its bytes is not
# UTF-8 and fails to load as a whole).
_CONTROL = r"[\x00-\x1F\x7F-\x9F]"
# A spreadsheet runs a cell beginning with one of these as a formula.
_FORMULA_START = r"^[=+\-@]"


def valid_store_id(ids: pl.Expr) -> pl.Expr:
    """Whether each store id is valid (docs/rules.md, "The inputs").

    Ids are exact strings, so one of blanks is an id like any other. An id
    is invalid when it is empty, longer than 256
    characters, holds a control character (U+0000–U+001F, U+007F–U+009F), or
    starts with ``=``, ``+``, ``-`` or ``@`` (a spreadsheet would run it as a
    formula).
    """
    return (
        (ids != "")
        & (ids.str.len_chars() <= MAX_STORE_ID_LENGTH)
        & ~ids.str.contains(_CONTROL)
        & ~ids.str.contains(_FORMULA_START)
    )


_FINGERPRINT_SEED = 0x5EED_1D


def fingerprint(ids: pl.Expr) -> pl.Expr:
    """The 64-bit fingerprint of each store id."""
    return ids.hash(_FINGERPRINT_SEED)


@dataclass(frozen=True)
class StoreTable:
    """Every store of a report, sorted by id, with its code.

    ``stores`` has ``code`` (UInt32, dense, in ``store_id`` order), ``store_id``
    and ``fingerprint``; ``join_on`` names the column polls are matched on;
    ``earliest_poll_us`` / ``latest_poll_us`` bound the polls' instants (None
    without polls).
    """

    stores: pl.DataFrame
    join_on: str
    earliest_poll_us: int | None
    latest_poll_us: int | None


def store_table(
    polls: pl.LazyFrame, hours: pl.DataFrame, tz: pl.DataFrame, special: pl.DataFrame | None = None
) -> StoreTable:
    """Stores appearing in any row of ``polls`` (all of it), ``hours``, ``tz`` or ``special``.

    Store ids of polls are checked with :func:`valid_store_id` here, once per
    distinct id rather than once per poll: the polls of an invalid id find no
    code in :func:`polls_with_codes` and drop out there, and they do not count
    for ``earliest_poll_us`` / ``latest_poll_us`` (the default ``now``).
    """
    # Eager: a lazy unique over the polls is slower (and the coerced polls
    # are a cheap projection of the input frame, see report.prepare).
    frame = polls.select("store_id", "t").collect()
    distinct = distinct_ids(frame.get_column("store_id")).to_frame()
    polled_ids = distinct.filter(valid_store_id(pl.col("store_id")))
    if polled_ids.height == distinct.height:
        times = frame.get_column("t")
    else:
        # Polls of invalid ids do not count for the bounds; only the few
        # distinct invalid ids are looked up, not every poll's id checked.
        invalid = distinct.filter(~valid_store_id(pl.col("store_id"))).get_column("store_id")
        times = frame.filter(~pl.col("store_id").is_in(pl.lit(invalid).implode())).get_column("t")
    del frame
    stores = (
        pl.concat(
            [polled_ids, hours.select("store_id"), tz.select("store_id")]
            + ([special.select("store_id")] if special is not None else [])
        )
        .unique()
        .sort("store_id")
        .with_row_index("code")
        .with_columns(fingerprint(pl.col("store_id")).alias("fingerprint"))
    )
    # Exact: ``stores`` holds every distinct id of every input once.
    clash = stores["fingerprint"].n_unique() != stores.height
    join_on = "store_id" if clash else "fingerprint"
    return StoreTable(stores, join_on, _int_or_none(times.min()), _int_or_none(times.max()))


#: Below this many ids one ``unique`` is as fast as slices on threads.
_PARALLEL_DISTINCT_ROWS = 1 << 20


def distinct_ids(ids: pl.Series) -> pl.Series:
    """The distinct values of ``ids`` (any order), on every core of Polars' pool.

    Polars' ``unique`` of a String series runs on one thread (its lazy,
    parallel form was slower still here), and it was a quarter of a
    report's compute at 37,000 stores × 18.8 M polls: 0.61 s. So the ids
    are cut into one slice per thread of Polars' pool, each slice's distinct
    values are taken at once on Python threads (Polars releases the GIL
    meanwhile), and the union of those short lists — one entry per store and
    slice — is made distinct once more: 0.31 s on 2 cores. Exact: a value is
    distinct in the result iff it occurs in some slice.
    """
    workers = pl.thread_pool_size()
    if ids.len() < _PARALLEL_DISTINCT_ROWS or ids.is_empty() or workers < 2:
        return ids.unique()
    step = max(1, -(-ids.len() // workers))
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda start: ids.slice(start, step).unique(), range(0, ids.len(), step)))
    return pl.concat(parts).unique()


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def polls_with_codes(polls: pl.LazyFrame, table: StoreTable) -> pl.LazyFrame:
    """``polls`` with the ``code`` of their store (and without ``store_id``)."""
    if table.join_on == "fingerprint":
        polls = polls.with_columns(fingerprint(pl.col("store_id")).alias("fingerprint"))
    keys = table.stores.lazy().select(table.join_on, "code")
    return polls.join(keys, on=table.join_on, how="inner").drop("store_id", "fingerprint", strict=False)

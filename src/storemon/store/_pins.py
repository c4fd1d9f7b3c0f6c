"""Snapshot pins: a committed state kept readable, by name, for the shards of one report.

A report fanned out into shard jobs (possibly on several hosts sharing the
store directory) must read *one* committed state in every shard, although
ingests, upkeep, compactions and garbage collection go on meanwhile.
:func:`pin_snapshot` writes ``pins/<token>.json`` holding that state itself —
the part list with each part's time range, the inline polls of the records
after the checkpoint, the table entries, the poll-store pieces — so a shard
reader needs neither the log nor an old checkpoint (both are pruned).

* **Written under the commit lock**, via temp file + fsync + rename (+ fsync
  of ``pins/``): no commit can happen between reading the state and the pin
  being on disk. A compaction deletes the files it merged away only after
  its commit and after reading the pins (:func:`pinned_files`), and garbage
  collection runs with no writer staging (so no commit) and reads the pins
  too: a file named by a pin is never deleted while the pin is live.
* **Bounded.** A pin expires ``ttl`` after it was made (default
  :data:`storemon.defaults.SNAPSHOT_TTL`); reads with an expired token fail
  with :class:`~storemon.StoreError`. Its files stay protected for
  :data:`PIN_GRACE` more (a shard read that started just before the expiry
  finishes), then upkeep or garbage collection removes the pin
  (:func:`expire_pins`) and with it the protection. :func:`release_snapshot`
  removes it at once (idempotent).
* A pin costs one small JSON file (O(dates + parts + table versions), like a
  checkpoint, plus at most ``CHECKPOINT_EVERY`` records' inline polls) and
  keeps the files of its state on disk until it goes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storemon._fileio import atomic_path, fsync_dir
from storemon.defaults import SNAPSHOT_TTL
from storemon.exceptions import ConfigError, StoreError
from storemon.store._files import StoreLike, make_dirs, open_store, read_poll_stores
from storemon.store._manifest import FORMAT, Manifest, commit_lock, load_state, state_from_json, state_to_json

__all__ = [
    "Snapshot",
    "pin_snapshot",
    "release_snapshot",
    "load_pin",
    "pinned_files",
    "expire_pins",
    "PINS_DIR",
    "PIN_GRACE",
]

PINS_DIR = "pins"
#: How long after its expiry a pin still protects its files (a read that started before the expiry finishes).
PIN_GRACE = timedelta(hours=1)
_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,79}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Snapshot:
    """A pinned committed state of a store (:func:`pin_snapshot`).

    ``token`` names the pin (pass it as ``snapshot=`` to the ``*_from_store``
    reads); ``seq`` is the commit it pins; ``stores`` the number of stores
    ever polled in that state (to choose a shard count); ``latest_poll``
    its latest poll (the default ``now``), None without polls.
    """

    token: str
    seq: int
    stores: int
    latest_poll: datetime | None
    expires_at: datetime


def pin_snapshot(store: StoreLike, *, ttl: timedelta = SNAPSHOT_TTL) -> Snapshot:
    """Pin the currently committed state of ``store`` for ``ttl``; return its :class:`Snapshot`.

    Every read given ``snapshot=token`` then reads exactly this state (the
    same polls, tables and default ``now``), whatever is committed,
    compacted or garbage-collected meanwhile, until the pin expires or is
    released (:func:`release_snapshot`).
    """
    if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
        raise ConfigError(f"ttl must be a positive duration, not {ttl!r}")
    root = open_store(store).root
    token = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(8)}"
    created = datetime.now(UTC)
    expires = created + ttl
    directory = root / PINS_DIR
    try:
        make_dirs(directory)
        with commit_lock(root):
            # Under the commit lock: no commit (so no compaction swap) lands between
            # reading the state and the pin being durable (module docstring).
            state = load_state(root)
            pinned = dataclasses.replace(state, ingests=(), intents=frozenset())
            document = {
                "format": FORMAT,
                "token": token,
                "created_at": _iso(created),
                "expires_at": _iso(expires),
                "state": state_to_json(pinned),
            }
            with atomic_path(directory / f"{token}.json") as tmp:
                tmp.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
            fsync_dir(directory)
    except OSError as exc:
        raise StoreError(f"{directory}: cannot write the snapshot pin: {exc.strerror or exc}") from None
    stores = read_poll_stores(root, state.poll_stores).height  # its files are pinned now
    latest = None if state.max_timestamp_us is None else _EPOCH + timedelta(microseconds=state.max_timestamp_us)
    return Snapshot(token=token, seq=state.generation, stores=stores, latest_poll=latest, expires_at=expires)


def release_snapshot(store: StoreLike, token: str) -> None:
    """Remove the pin ``token`` (its files become garbage once no state names them). Idempotent."""
    root = open_store(store).root
    path = _pin_path(root, token)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot remove the snapshot pin: {exc.strerror or exc}") from None
    fsync_dir(path.parent)


def load_pin(root: Path, token: str) -> Manifest:
    """The state pinned as ``token``; :class:`StoreError` when unknown, expired or damaged."""
    path = _pin_path(root, token)
    try:
        expires, state = _read_pin(path)
    except FileNotFoundError:
        raise StoreError(
            f"{root}: unknown snapshot {token!r} (never pinned here, released, or expired and removed)"
        ) from None
    if datetime.now(UTC) >= expires:
        raise StoreError(f"{root}: snapshot {token!r} expired at {_iso(expires)}; pin a new one")
    return state


def pinned_files(root: Path) -> set[str]:
    """Every file named by a pin that still protects its files (not past expiry + :data:`PIN_GRACE`).

    Raises :class:`StoreError` for a pin that cannot be read: deleting files
    without knowing what it names could break the reads it serves.
    """
    named: set[str] = set()
    now = datetime.now(UTC)
    for path in _pin_files(root):
        try:
            expires, state = _read_pin(path)
        except FileNotFoundError:
            continue  # released meanwhile
        if now < expires + PIN_GRACE:
            named |= state.files()
    return named


def expire_pins(root: Path) -> int:
    """Remove the pins past expiry + :data:`PIN_GRACE` and leftover temporary files; return how many."""
    removed = 0
    now = datetime.now(UTC)
    directory = root / PINS_DIR
    for path in _pin_files(root):
        try:
            expires, _ = _read_pin(path)
        except FileNotFoundError:
            continue
        except StoreError:
            continue  # a damaged pin is left for a person to look at (pinned_files refuses to GC meanwhile)
        if now >= expires + PIN_GRACE:
            path.unlink(missing_ok=True)
            removed += 1
    if directory.is_dir():
        for leftover in directory.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
            removed += 1
        if removed:
            fsync_dir(directory)
    return removed


def _pin_files(root: Path) -> list[Path]:
    directory = root / PINS_DIR
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [directory / name for name in names if name.endswith(".json") and _TOKEN.fullmatch(name[:-5])]


def _pin_path(root: Path, token: str) -> Path:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise StoreError(f"{root}: {token!r} is not a snapshot token")
    return root / PINS_DIR / f"{token}.json"


def _read_pin(path: Path) -> tuple[datetime, Manifest]:
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError("not a snapshot pin of this format")
        expires = datetime.fromisoformat(document["expires_at"])
        if expires.tzinfo is None:
            raise ValueError("expires_at has no time zone")
        return expires, state_from_json(document["state"])
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the snapshot pin: {exc.strerror or exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreError(f"{path}: damaged snapshot pin: {exc}") from None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")

"""The README's examples, run as written: its console commands and its Python sessions.

Each ```console block is a list of ``$ storemon …`` commands, each followed
by its output; each is run from the repository root (through the installed
console script; ``2>/dev/null`` is honoured by dropping stderr) and must
print exactly what the README shows. Each ```pycon block is run as a doctest,
with Polars' table width fixed. So the examples cannot rot.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STOREMON = shutil.which("storemon", path=str(Path(sys.executable).parent)) or "storemon"
_BLOCK = re.compile(r"^```(console|pycon)\n(.*?)^```$", re.S | re.M)


def blocks(kind: str, text: str | None = None) -> list[str]:
    """The bodies of the README's fenced blocks of ``kind``."""
    return [body for found, body in _BLOCK.findall(README.read_text() if text is None else text) if found == kind]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of one console block."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs:
            runs[-1][1].append(line)
    return runs


def run_command(command: str) -> str:
    """Run one README command (``storemon …`` only) from the repository root; its stdout."""
    args = shlex.split(command)
    assert args[0] == "storemon", f"README commands run storemon only: {command}"
    if args[-1] == "2>/dev/null":
        args = args[:-1]
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(ROOT), "LANG": "C.UTF-8"}
    done = subprocess.run([STOREMON, *args[1:]], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


CONSOLE = [run for block in blocks("console") for run in commands(block) if run[0].startswith("storemon ")]


def test_the_readme_has_examples_on_the_example_data():
    assert any("examples/special" in command for command, _ in CONSOLE)
    assert any("examples/worked" in command for command, _ in CONSOLE)
    assert blocks("pycon")


@pytest.mark.parametrize(("command", "expected"), CONSOLE, ids=[command for command, _ in CONSOLE])
def test_readme_command_prints_what_the_readme_shows(command: str, expected: list[str]):
    assert run_command(command).splitlines() == expected


def test_readme_python_sessions_print_what_the_readme_shows(monkeypatch: pytest.MonkeyPatch):
    """The pycon blocks in order, as one session (a later block uses the names of an earlier one)."""
    monkeypatch.chdir(ROOT)
    globs: dict[str, object] = {}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for index, block in enumerate(blocks("pycon")):
        test = doctest.DocTestParser().get_doctest(block, globs, f"README pycon {index}", str(README), 0)
        with pl.Config(tbl_width_chars=100):
            result = runner.run(test, out=_Collect(), clear_globs=False)
        assert result.failed == 0, _Collect.text
        globs = test.globs


class _Collect:
    """doctest's output, kept for the assertion message."""

    text = ""

    def __call__(self, message: str) -> None:
        _Collect.text += message

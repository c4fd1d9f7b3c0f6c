"""The built wheel, installed into a fresh venv outside the repository, works on its own.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``,
setuptools comes with the test extra) from a copy of the files the build
reads, so the checkout gets no ``build/`` directory. The fresh venv gets
the wheel with ``--no-deps``; the runtime dependencies (Polars, click, Flask,
RQ …) are borrowed from the development venv through a ``.pth`` file that
names its site-packages directory. A path in a ``.pth`` file is only added to
``sys.path`` (the ``.pth`` files inside it are not run), so the development
venv's editable hook for ``src/`` stays inactive — and the tests check that
``storemon`` and ``webapp`` are imported from the fresh venv, not ``src/``.
Every command runs from a directory outside the repository.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from conftest import TOKENS_ENV, free_port

REPO = Path(__file__).resolve().parent.parent
SERVICE_DEPS = {
    "flask",
    "rq",
    "redis",
    "gunicorn",
    "honcho",
    "flask-httpauth",
    "flask-wtf",
    "plotly",
    "flask-swagger-ui",
}
CORE_DEPS = {"polars", "numpy", "click"}


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("STOREMON_", "PYTHON", "COVERAGE", "VIRTUAL_ENV")) and k != "REDIS_URL"
        }
        return {**base, "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", **extra}

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), capture_output=True, text=True, cwd=self.workdir, env=self.env(**env), timeout=180
        )

    def python(self, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "python"), "-c", code, **env)


def _copy_build_inputs(target: Path) -> Path:
    """The files the build reads (pyproject, README, LICENSE, src/) without caches or egg-info."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO)
    source = _copy_build_inputs(root / "source")
    dist = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist),
         str(source)],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("storemon-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    target_python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target_python), "install", "--no-deps", "--no-index",
         "--no-cache-dir", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    new_site = subprocess.run(
        [str(target_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, cwd=root,
    ).stdout.strip()  # fmt: skip
    dev_site = sysconfig.get_paths()["purelib"]
    (Path(new_site) / "zz_storemon_dev_dependencies.pth").write_text(dev_site + "\n")
    workdir = root / "work"
    workdir.mkdir()
    return Installed(wheel=wheel, venv=venv, workdir=workdir)


# --- what the wheel holds ------------------------------------------------------------------


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_the_wheel_declares_core_dependencies_always_and_the_service_ones_as_an_extra(installed: Installed):
    requires = _metadata(installed.wheel).get_all("Requires-Dist") or []
    unconditional = {req.split(";")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
                     for req in requires if ";" not in req}  # fmt: skip
    assert unconditional == CORE_DEPS
    service = {req.split(">")[0].split("<")[0].split("=")[0].strip().lower()
               for req in requires if 'extra == "service"' in req}  # fmt: skip
    assert service == SERVICE_DEPS
    for req in requires:  # the service stack never without the extra
        name = req.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip().lower()
        if name in SERVICE_DEPS:
            assert "extra ==" in req, req


def test_the_wheel_holds_the_type_marker_the_sample_and_the_licence(installed: Installed):
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    for name in ("storemon/py.typed", "storemon/sample/store_status.csv", "storemon/sample/menu_hours.csv",
                 "storemon/sample/timezones.csv", "storemon/sample/README.md"):  # fmt: skip
        assert name in names
    for name in ("webapp/console/templates/console/base.html", "webapp/console/static/console.js"):  # the console
        assert name in names
    assert any(n.split("/")[0].endswith(".dist-info") and n.endswith("/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "data/")) for n in names)


# --- the installed package, away from the repository -----------------------------------------


def test_the_code_that_runs_is_the_wheels(installed: Installed):
    where = installed.python("import storemon, webapp; print(storemon.__file__); print(webapp.__file__)")
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(installed.venv.resolve()), line
        assert not Path(line).resolve().is_relative_to(REPO)


def test_the_console_script_reports_on_the_bundled_sample(installed: Installed):
    import storemon

    storemon_bin = str(installed.bin / "storemon")
    version = installed.run(storemon_bin, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"storemon {storemon.__version__}\n"
    assert installed.run(str(installed.bin / "python"), "-m", "storemon", "--version").stdout == version.stdout

    sample = installed.run(storemon_bin, "sample")
    assert sample.returncode == 0, sample.stderr
    sample_dir = Path(sample.stdout.strip())
    assert sample_dir.resolve().is_relative_to(installed.venv.resolve())
    assert sorted(p.name for p in sample_dir.iterdir()) == [
        "README.md", "menu_hours.csv", "store_status.csv", "timezones.csv"
    ]  # fmt: skip

    report = installed.run(storemon_bin, "report", str(sample_dir), "-o", "out.csv")
    assert report.returncode == 0, report.stderr
    lines = (installed.workdir / "out.csv").read_text().splitlines()
    assert len(lines) == 51 and lines[0].startswith("store_id,uptime_last_hour")

    copied = installed.run(storemon_bin, "sample", "copy")
    assert copied.returncode == 0, copied.stderr
    assert sorted(p.name for p in (installed.workdir / "copy").iterdir()) == [
        "menu_hours.csv", "store_status.csv", "timezones.csv"
    ]  # fmt: skip


def test_the_library_computes_from_the_wheel(installed: Installed):
    code = (
        "import storemon; inputs = storemon.load_dir(storemon.sample_dir()); "
        "report = storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones); "
        "report.write_parquet('library.parquet'); print(report.height)"
    )
    result = installed.python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "50"
    assert pl.read_parquet(installed.workdir / "library.parquet").columns[0] == "store_id"


def test_the_app_factory_serves_health_from_the_wheel(installed: Installed):
    code = (
        "import json, storemon; from flask import Flask; from webapp import create_app; "
        "app = create_app(); assert isinstance(app, Flask), type(app); "
        "response = app.test_client().get('/api/health'); "
        "print(json.dumps({'status': response.status_code, 'json': response.get_json()}))"
    )
    sample = installed.python("import storemon; print(storemon.sample_dir())").stdout.strip()
    result = installed.python(
        code, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", STOREMON_DATA_DIR=sample, STOREMON_TOKENS=TOKENS_ENV
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    # No Redis listens on that port: unhealthy, but it answers JSON and finds the data.
    assert answer["status"] == 503
    assert answer["json"]["redis"] is False and answer["json"]["data"] is True


def test_an_installed_service_without_data_refuses_to_start(installed: Installed):
    result = installed.python(
        "from webapp import create_app; create_app()", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "no data configured" in result.stderr

    worker = installed.run(str(installed.bin / "python"), "-m", "webapp.worker", "--burst")
    assert worker.returncode == 2
    assert "no data configured" in worker.stderr and "Traceback" not in worker.stderr

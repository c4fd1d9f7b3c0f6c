"""The service's small parts on their own: settings, trigger parameters, records, errors, worker TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq.timeouts import JobTimeoutException

from storemon import ConfigError, FileFormatError, sample_dir
from webapp import create_app
from webapp.config import NO_DATA_MESSAGE, Settings
from webapp.jobs import describe_error
from webapp.params import BadParameter, ReportParams, parse_trigger_body
from webapp.records import csv_path, is_report_id, new_report_id, read_record, write_record
from webapp.worker import make_worker

# --- settings ----------------------------------------------------------------------


def test_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    settings = Settings.from_env({"STOREMON_DATA_DIR": "data"})

    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.data_dir == tmp_path.resolve() / "data"
    assert settings.store is None
    assert settings.reports_dir == tmp_path.resolve() / "run" / "reports"
    assert settings.queue == "storemon"
    assert settings.job_timeout == 600
    assert settings.worker_heartbeat == 10
    assert settings.abandon_after == 32
    assert settings.hold_file is None


def test_settings_read_every_variable_and_make_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    settings = Settings.from_env(
        {
            "REDIS_URL": "unix:///tmp/redis.sock",
            "STOREMON_DATA_DIR": "in",
            "STOREMON_REPORTS_DIR": "out",
            "STOREMON_QUEUE": "reports.v2",
            "STOREMON_JOB_TIMEOUT": "30",
            "STOREMON_WORKER_HEARTBEAT": " 2 ",
            "STOREMON_TEST_HOLD_FILE": "hold",
        }
    )

    assert settings == Settings(
        redis_url="unix:///tmp/redis.sock",
        data_dir=tmp_path.resolve() / "in",
        reports_dir=tmp_path.resolve() / "out",
        queue="reports.v2",
        job_timeout=30,
        worker_heartbeat=2,
        hold_file=tmp_path.resolve() / "hold",
    )
    assert settings.abandon_after == 8


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("STOREMON_QUEUE", "two words"),
        ("STOREMON_JOB_TIMEOUT", "ten"),
        ("STOREMON_JOB_TIMEOUT", "0"),
        ("STOREMON_WORKER_HEARTBEAT", "-1"),
        ("STOREMON_WORKER_HEARTBEAT", "1.5"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})

    assert name in str(caught.value) and value in str(caught.value)


def test_without_data_the_service_refuses_to_start(tmp_path, monkeypatch):
    # An installed service has no repository sample to fall back on: no data configured is an error.
    monkeypatch.chdir(tmp_path)
    for environ in ({}, {"STOREMON_DATA_DIR": " "}, {"STOREMON_STORE": ""}):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(environ)
        assert str(caught.value) == NO_DATA_MESSAGE
        assert "STOREMON_STORE" in str(caught.value) and "STOREMON_DATA_DIR" in str(caught.value)
    with pytest.raises(ConfigError, match="no data configured"):
        create_app({"REDIS_URL": "redis://127.0.0.1:1/0"})

    (tmp_path / "a-file").write_text("x")
    for value, what in [("missing", "does not exist"), ("a-file", "is not a directory")]:
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"STOREMON_DATA_DIR": value})
        assert f"STOREMON_DATA_DIR='{value}' {what}" in str(caught.value)

    # A store is data enough; an unused data directory need not exist then.
    only_store = Settings.from_env({"STOREMON_STORE": "store"})
    assert only_store.store == tmp_path.resolve() / "store" and only_store.data_dir is None
    assert Settings.from_env({"STOREMON_STORE": "store", "STOREMON_DATA_DIR": "missing"}).data_dir is not None


def test_create_app_refuses_bad_settings():
    with pytest.raises(ConfigError, match="STOREMON_JOB_TIMEOUT"):
        create_app({"STOREMON_JOB_TIMEOUT": "soon"})


def test_worker_abandons_a_silent_job_after_the_configured_time(redis_url):
    settings = Settings.from_env(
        {"REDIS_URL": redis_url, "STOREMON_WORKER_HEARTBEAT": "3", "STOREMON_DATA_DIR": str(sample_dir())}
    )
    worker = make_worker(settings)

    class _Job:
        timeout = 600

    assert worker.job_monitoring_interval == 3
    assert worker.get_heartbeat_ttl(_Job()) == settings.abandon_after == 11
    _Job.timeout = 100
    assert worker.get_heartbeat_ttl(_Job(), working_time=99.5) == 1 + 8  # never past the job's own timeout


# --- trigger parameters ----------------------------------------------------------------


def test_an_empty_body_means_the_defaults():
    assert parse_trigger_body(b"") == parse_trigger_body(b"  \n") == parse_trigger_body(b"{}")
    assert parse_trigger_body(b"") == ReportParams(now=None, horizon_hours=192.0)
    assert parse_trigger_body(b"").horizon == timedelta(days=8)


def test_parameters_round_trip_through_json():
    params = parse_trigger_body(b'{"now": "2024-10-12T07:13:00.5-05:00", "horizon_hours": 1.5}')

    assert params.now == datetime(2024, 10, 12, 12, 13, 0, 500000, tzinfo=UTC)
    assert params.horizon == timedelta(minutes=90)
    assert ReportParams.from_json(params.to_json()) == params


@pytest.mark.parametrize("body", [b'{"horizon_hours": 1e400}', b'{"horizon_hours": ' + b"9" * 400 + b"}"])
def test_absurd_horizons_are_bad_parameters(body):
    with pytest.raises(BadParameter, match="horizon_hours"):
        parse_trigger_body(body)


def test_a_zero_horizon_is_allowed():
    assert parse_trigger_body(b'{"horizon_hours": 0}').horizon == timedelta(0)


def test_per_status_horizons_default_to_the_horizon_and_round_trip():
    assert parse_trigger_body(b'{"horizon_hours": 5}').horizons == {"horizon": timedelta(hours=5)}
    nulls = parse_trigger_body(b'{"horizon_active_hours": null, "horizon_inactive_hours": null}')
    assert nulls == parse_trigger_body(b"")
    params = parse_trigger_body(b'{"horizon_active_hours": 2, "horizon_inactive_hours": 0.5}')
    assert params.horizons == {
        "horizon": timedelta(days=8),
        "horizon_active": timedelta(hours=2),
        "horizon_inactive": timedelta(minutes=30),
    }
    assert ReportParams.from_json(params.to_json()) == params
    # A job queued before these fields existed still reads.
    assert ReportParams.from_json({"now": None, "horizon_hours": 192.0}) == parse_trigger_body(b"")
    with pytest.raises(BadParameter, match="horizon_active_hours"):
        parse_trigger_body(b'{"horizon_active_hours": 1e400}')


# --- records -----------------------------------------------------------------------


def test_report_ids_are_fresh_and_strict():
    ids = {new_report_id() for _ in range(100)}

    assert len(ids) == 100 and all(is_report_id(i) for i in ids)
    assert not is_report_id("../" + "0" * 29)
    assert not is_report_id("0" * 32 + "\n")
    with pytest.raises(ValueError):
        csv_path(Path("/reports"), "../../etc/passwd")


def test_records_are_written_whole_and_read_back(tmp_path):
    report_id = new_report_id()
    assert read_record(tmp_path, report_id) is None

    write_record(tmp_path, {"report_id": report_id, "status": "Complete", "rows": 3})

    assert read_record(tmp_path, report_id) == {"report_id": report_id, "status": "Complete", "rows": 3}
    assert [p.name for p in tmp_path.iterdir()] == [f"{report_id}.json"]  # no temp file left behind


# --- errors for a person -------------------------------------------------------------------


def test_errors_are_described_for_a_person():
    missing = FileFormatError("no such file", file="menu_hours.csv")

    assert describe_error(missing) == str(missing)
    assert "timeout" in describe_error(JobTimeoutException("x"))
    assert describe_error(PermissionError(13, "Permission denied", "/reports/x.csv")).startswith(
        "could not read or write"
    )
    assert describe_error(ZeroDivisionError("division by zero")) == (
        "unexpected error (ZeroDivisionError: division by zero); the worker log has the details"
    )

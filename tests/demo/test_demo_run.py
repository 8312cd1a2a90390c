"""`tailor demo`, run twice as a new user would: the second run regenerates the data and rebuilds the warehouse,
but sends nothing twice (the ledger and the outbox are kept), and its run shows in the instance under the named
job with its tags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter

from tailor.cli.main import main as cli


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    for name, path in {"TAILOR_LANDING_DIR": "data/landing", "TAILOR_WAREHOUSE_PATH": "data/warehouse.duckdb",
                       "TAILOR_OUTBOX_DIR": "data/outbox", "TAILOR_SEND_LEDGER_PATH": "data/send_ledger.sqlite"}.items():
        monkeypatch.setenv(name, str(tmp_path / path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    for name in ("SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _emails(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "data" / "outbox").rglob("*.eml"))}


def test_running_the_demo_again_sends_nothing_twice(demo_env, capsys):
    args = ["demo", "--use-configured-paths", "--customers", "150", "--seed", "3", "--as-of", "2026-11-01T12:00:00Z"]
    assert cli(args) == 0
    first = capsys.readouterr().out
    sent = _emails(demo_env)
    assert sent and f"emails written    {len(sent):>8,}" in first

    assert cli([*args[:-1], "2026-11-01T13:00:00Z"]) == 0   # an hour later, as a second `make demo` would be
    second = capsys.readouterr().out
    assert "emails written           0" in second
    assert f"({len(sent):,} sent by an earlier run: not sent again" in second
    assert _emails(demo_env) == sent   # not one .eml written or rewritten

    runs = DagsterInstance.from_config(os.environ["DAGSTER_HOME"]).get_runs(RunsFilter(job_name="tailor_pipeline"))
    assert len(runs) == 2 and all(r.tags["tailor/trigger"] == "tailor demo" for r in runs)
    assert {r.tags["tailor/as_of"] for r in runs} == {"2026-11-01T12:00:00+00:00", "2026-11-01T13:00:00+00:00"}


def test_fresh_forgets_what_was_sent(demo_env, capsys):
    args = ["demo", "--use-configured-paths", "--customers", "150", "--seed", "3", "--as-of", "2026-11-01T12:00:00Z"]
    assert cli(args) == 0
    sent = _emails(demo_env)
    capsys.readouterr()
    assert cli([*args, "--fresh"]) == 0
    assert f"emails written    {len(sent):>8,}" in capsys.readouterr().out


def test_the_demo_refuses_to_overwrite_configured_paths_or_to_send_through_sendgrid(demo_env, monkeypatch, capsys):
    """Issue 11 #16: it deleted whatever the TAILOR_* paths pointed at, and sent through SendGrid when a key was set."""
    precious = demo_env / "data" / "warehouse.duckdb"
    precious.parent.mkdir(parents=True)
    precious.write_bytes(b"a shop's real warehouse")
    assert cli(["demo", "--customers", "150", "--fresh"]) == 2
    err = capsys.readouterr().err
    for name in ("TAILOR_LANDING_DIR", "TAILOR_WAREHOUSE_PATH", "TAILOR_OUTBOX_DIR", "TAILOR_SEND_LEDGER_PATH"):
        assert f"{name} points at {Path(os.environ[name]).resolve()}" in err
    assert "--use-configured-paths" in err
    assert precious.read_bytes() == b"a shop's real warehouse"
    assert not (demo_env / "data" / "landing").exists()

    monkeypatch.setenv("SENDGRID_API_KEY", "SG.not-a-real-key")
    assert cli(["demo", "--use-configured-paths", "--customers", "150"]) == 2
    err = capsys.readouterr().err
    assert "SENDGRID_API_KEY is set" in err and "--send-with-sendgrid" in err and "SG.not" not in err
    assert precious.read_bytes() == b"a shop's real warehouse"


def test_the_default_demo_folders_need_no_flag(tmp_path, monkeypatch):
    from tailor.demo.run import demo_refusals

    monkeypatch.chdir(tmp_path)
    for name in ("TAILOR_LANDING_DIR", "TAILOR_WAREHOUSE_PATH", "TAILOR_OUTBOX_DIR", "TAILOR_SEND_LEDGER_PATH",
                 "SENDGRID_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert demo_refusals() == []
    monkeypatch.setenv("TAILOR_OUTBOX_DIR", "data/outbox/")  # the same folder, spelled differently
    assert demo_refusals() == []
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.x")
    assert demo_refusals(send_with_sendgrid=True) == []

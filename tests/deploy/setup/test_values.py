"""The answers' mapping to files, without a run: answer text, broker.conf, the admin seed."""

from __future__ import annotations

from pathlib import Path

from hosted_engine.deploy import setup_keys as K
from hosted_engine.deploy import setup_values
from hosted_engine.deploy.setup_domain import seed_admin
from hosted_engine.installer import Environment


def _env() -> Environment:
    env = Environment()
    for declared in K.ALL:
        env.declare(declared, owner="test")
    return env


def test_answers_round_trip_and_leave_secrets_out() -> None:
    env = _env()
    env[K.CONNECTION] = "/srv/he"
    env[K.MEM_MB] = 512
    env[K.ADMIN_PASSWORD] = "s3cret"
    text = setup_values.answers_text(env, K.ALL, "test")
    assert "s3cret" not in text
    parsed = {a.key: a.value for a in setup_values.parse_answers(text, "t")}
    assert parsed[K.CONNECTION.name] == "/srv/he"
    assert parsed[K.MEM_MB.name] == 512
    assert parsed[K.BRIDGE.name] == "ovirtmgmt"  # defaults are answers too


def test_shared_answers_leave_the_host_own_ones_out() -> None:
    names = {k.name for k in K.SHARED}
    assert K.CONNECTION.name in names and K.FQDN.name in names
    assert K.HOST_ID.name not in names and K.HOST_NAME.name not in names
    assert K.ADMIN_PASSWORD.name not in names


def test_broker_conf_takes_the_mail_answers() -> None:
    env = _env()
    env[K.SMTP_SERVER] = "smtp.example.com"
    env[K.DEST_EMAIL] = "a@example.com,b@example.com"
    text = setup_values.broker_conf(env)
    assert "\nsmtp-server = smtp.example.com\n" in text
    assert "\ndestination-emails = a@example.com,b@example.com\n" in text
    assert "\nsmtp-port = 25\n" in text


def test_admin_password_is_seeded_for_the_manager(tmp_path: Path) -> None:
    from hosted_engine.manager.auth import ADMIN_USER, check_password, ensure_admin
    from hosted_engine.manager.db import open_database

    seed_admin(tmp_path, "chosen-password")
    db = open_database(tmp_path)
    try:
        ensure_admin(db, tmp_path)  # the manager's first start keeps the seeded admin
        assert check_password(db, ADMIN_USER, "chosen-password")
        assert not (tmp_path / "admin-password").exists()
    finally:
        db.close()


def test_the_shared_conf_copy_carries_no_host_own_line() -> None:
    env = _env()
    env[K.VM_UUID] = "11111111-2222-3333-4444-555555555555"
    config = {
        "host_id": "1",
        "sdUUID": "sd",
        "hostname": "host1.example.com",
        "watchdog": "unix:/run/host1/watchdog",
        "fault_file": "/run/host1/faults",
        "metrics_listen": "127.0.0.1:9101",
        "sanlock_run_dir": "/run/host1/sanlock",
        "state_dir": "/var/lib/host1",
    }
    text = setup_values.archive_members(env, config)["hosted-engine.conf"].decode()
    keys = {line.partition("=")[0] for line in text.splitlines() if "=" in line}
    assert keys == {"host_id", "sdUUID"}

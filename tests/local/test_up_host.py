"""`skinlesion up --host`: loopback by default; another address only with --allow-remote, loudly."""

from __future__ import annotations

import pytest

import skinlesion.local.up as up
from skinlesion.local.stack import StackError


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_flag(host):
    assert up.check_host(host, allow_remote=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "my-laptop.lan"])
def test_a_non_loopback_host_is_refused_without_allow_remote(host, capsys, monkeypatch):
    started = []
    monkeypatch.setattr(up, "LocalStack", lambda settings: started.append(settings))

    assert up.main(["--host", host]) == 2

    assert started == [], "nothing may start on a refused host"
    error = capsys.readouterr().err
    assert f"refusing --host {host}" in error and "--allow-remote" in error


def test_allow_remote_starts_with_a_loud_warning(capsys, monkeypatch, tmp_path):
    class _Fails:
        def __init__(self, settings):
            self.settings = settings
            self.web = None

        def start(self):
            raise StackError("stand-in: stop here")

        def stop(self):
            pass

    monkeypatch.setattr(up, "LocalStack", _Fails)
    monkeypatch.setattr(up, "_capture_lambda_output", lambda *a: None)

    code = up.main(["--host", "0.0.0.0", "--allow-remote", "--state-file", str(tmp_path / "stack.json")])

    error = capsys.readouterr().err
    assert code == 1 and "stand-in: stop here" in error  # it did try to start
    assert "WARNING: listening on 0.0.0.0" in error and "demo user" in error


def test_throttle_flag_turns_on_the_stages_limits():
    args = up.parse_args(["--throttle"])
    assert up.settings_from(args).throttle is True
    assert up.settings_from(up.parse_args([])).throttle is False

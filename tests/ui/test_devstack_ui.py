"""`devstack.ui` without starting anything: the state it keeps, the environment the UI processes get, pid files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack import stack, ui


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stack, "STATE_DIR", tmp_path)
    monkeypatch.setattr(stack, "STATE_FILE", tmp_path / "state.json")
    monkeypatch.setattr(ui, "UI_DIR", tmp_path / "ui")
    return tmp_path


def test_port_and_password_are_chosen_once_and_kept(state_dir: Path) -> None:
    first = ui.ui_state()
    assert {"pg_port", "pg_password", "moto_port", "ui_port", "ui_password"} <= set(first)
    assert ui.ui_state() == first == json.loads((state_dir / "state.json").read_text())
    assert (state_dir / "state.json").stat().st_mode & 0o077 == 0


def test_environment_of_the_ui_processes(state_dir: Path) -> None:
    state = ui.ui_state()
    env = ui.ui_env(state)
    url = f"http://127.0.0.1:{state['ui_port']}"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{url}/execution/"
    assert env["AIRFLOW__API__PORT"] == str(state["ui_port"]) and env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) == ui.PARALLELISM <= 8
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(ui.passwords_file())
    # everything the CLI and the tasks get from the stack is there too
    assert stack.env_vars(state).items() <= env.items()


def test_password_file_holds_the_known_login(state_dir: Path) -> None:
    ui._write_passwords("s3cret")
    assert json.loads(ui.passwords_file().read_text()) == {"admin": "s3cret"}
    assert ui.passwords_file().stat().st_mode & 0o077 == 0


def test_a_pid_file_naming_another_process_is_not_ours(state_dir: Path) -> None:
    ui.UI_DIR.mkdir()
    (ui.UI_DIR / "scheduler.pid").write_text(str(os.getpid()))  # pytest, not `airflow scheduler`
    assert ui.running() == {}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "airflow", "scheduler"])
    try:
        (ui.UI_DIR / "scheduler.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + 10
        while b"scheduler" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd
        assert ui.running() == {"scheduler": proc.pid}
    finally:
        proc.kill()
        proc.wait()
    assert ui.running() == {}

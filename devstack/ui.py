"""`bin/local-stack ui`: Airflow's UI on the embedded stack (api-server, scheduler, dag-processor, triggerer).

The four processes run in the background with the stack's environment plus what a UI needs: the API server on a
port chosen once (kept in `.local-stack/state.json`) and bound to 127.0.0.1, the Execution API URL pointing at
it (tasks run by the LocalExecutor talk to it; its default assumes port 8080), a parallelism suited to a small
machine, and the simple auth manager with one known user, `admin`, whose password is generated once and kept in
the state file. Logs and pid files live under `.local-stack/ui/`. `start()` is idempotent: it reuses the
processes that are running and starts the others; `stop()` ends them (also called by `bin/local-stack down`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devstack import stack

UI_DIR = stack.STATE_DIR / "ui"
USER = "admin"
# LocalExecutor starts `parallelism` worker processes and every task may start a local Spark job (a JVM with
# local[2]): on a 2-core laptop more than a handful at once only makes them all slower.
PARALLELISM = 4
# FastAPI's TestClient import (Airflow's in-process API client) warns on every start of every component.
QUIET_WARNINGS = "ignore:Using `httpx` with `starlette.testclient` is deprecated:DeprecationWarning"
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],  # host and port come from AIRFLOW__API__HOST/PORT
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
}


@dataclass(frozen=True)
class UiInfo:
    url: str
    user: str
    password: str
    started: list[str]  # the components this call started (empty: everything was already running)


def ui_state() -> dict:
    """The stack state with the UI's port, log-server ports and password, chosen once and saved."""
    state = stack._state()
    changed = False
    for key in ("ui_port", "ui_worker_log_port", "ui_trigger_log_port"):
        if key not in state:
            state[key] = stack._free_port()
            changed = True
    if "ui_password" not in state:
        state["ui_password"] = secrets.token_urlsafe(12)
        changed = True
    if changed:
        stack.save_state(state)
    return state


def url_of(state: dict) -> str:
    return f"http://127.0.0.1:{state['ui_port']}"


def passwords_file() -> Path:
    return UI_DIR / "simple_auth_manager_passwords.json"


def ui_env(state: dict) -> dict[str, str]:
    """The stack's environment plus the settings of the UI processes (all four share it)."""
    url = url_of(state)
    return {
        **stack.env_vars(state),
        "PYTHONWARNINGS": QUIET_WARNINGS,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(state["ui_port"]),
        "AIRFLOW__API__BASE_URL": f"{url}/",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # a laptop's stack: no scheduled runs on its own (unpausing a daily DAG would load yesterday at once);
        # manual runs and backfills (`airflow backfill create`) run as anywhere else
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file()),
        # serve-logs of the scheduler (LocalExecutor) and of the triggerer: not the fixed 8793/8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(state["ui_worker_log_port"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(state["ui_trigger_log_port"]),
    }


def _write_passwords(password: str) -> None:
    UI_DIR.mkdir(parents=True, exist_ok=True)
    path = passwords_file()
    want = {USER: password}
    try:
        if json.loads(path.read_text()) == want:
            return
    except (FileNotFoundError, ValueError):
        pass
    path.write_text(json.dumps(want))
    path.chmod(0o600)


def _pid(name: str) -> int | None:
    """The pid of a running component started by us (its pid file names a live `airflow <component>`)."""
    pidfile = UI_DIR / f"{name}.pid"
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    # `python …/airflow api-server`, or the title Airflow gives it later (`airflow api_server -- host:…`)
    joined = b" ".join(cmdline).replace(b"_", b"-")
    if b"airflow" not in joined or COMPONENTS[name][0].encode() not in joined:
        return None  # the pid was reused by something else
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None  # a zombie: exited, not reaped
    except FileNotFoundError:
        return None
    return pid


def running() -> dict[str, int]:
    return {name: pid for name in COMPONENTS if (pid := _pid(name))}


def healthy(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def token(url: str, user: str, password: str) -> str:
    """A JWT for the public REST API (`Authorization: Bearer …`) from the simple auth manager."""
    req = urllib.request.Request(f"{url}/auth/token", data=json.dumps({"username": user, "password": password})
                                 .encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def log_tail(name: str, lines: int = 40) -> str:
    path = UI_DIR / f"{name}.log"
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start(timeout: float = 180.0) -> UiInfo:
    """Start what is not running of the four components and wait until the API server answers."""
    state = ui_state()
    env = {**os.environ, **ui_env(state)}
    url = url_of(state)
    _write_passwords(state["ui_password"])
    alive = running()
    if "api-server" not in alive and _port_in_use(state["ui_port"]):
        raise SystemExit(f"port {state['ui_port']} (ui_port in {stack.STATE_FILE}) is taken by another process; "
                         "stop it or remove ui_port from the state file")
    started: dict[str, subprocess.Popen] = {}
    for name, args in COMPONENTS.items():
        if name in alive:
            continue
        log = open(UI_DIR / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen([str(stack.VENV_BIN / "airflow"), *args], env=env, cwd=stack.ROOT,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        (UI_DIR / f"{name}.pid").write_text(str(proc.pid))
        started[name] = proc
    deadline = time.monotonic() + timeout
    while not healthy(url):
        dead = [name for name, proc in started.items() if proc.poll() is not None]
        dead += [name for name in alive if not _pid(name)]
        if dead or time.monotonic() > deadline:
            why = f"{', '.join(dead)} exited" if dead else f"no answer from {url} after {timeout:.0f}s"
            tails = "\n".join(f"--- {UI_DIR / (n + '.log')} (tail)\n{log_tail(n)}" for n in (dead or ["api-server"]))
            raise SystemExit(f"Airflow UI did not start: {why}\n{tails}")
        time.sleep(1)
    return UiInfo(url=url, user=USER, password=state["ui_password"], started=list(started))


def _reap(pid: int) -> None:
    """Collect the exit status when the caller is the parent (a test session), so no zombie is left."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(names: list[str] | None = None, timeout: float = 30.0) -> list[str]:
    """End the components we started (their whole process groups: workers, serve-logs, parsers); all by default."""
    stopped = []
    pids = {n: p for n, p in running().items() if names is None or n in names}
    for name, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        stopped.append(name)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        for pid in pids.values():
            _reap(pid)
        pids = {n: p for n, p in pids.items() if _pid(n)}
        time.sleep(0.3)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids.values():
        _reap(pid)
    for name in names or COMPONENTS:
        (UI_DIR / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def status() -> dict[str, object]:
    state = ui_state()
    return {"url": url_of(state), "healthy": healthy(url_of(state)), "running": running()}


def main() -> int:
    info = start()
    what = f"started {', '.join(info.started)}" if info.started else "already running"
    print(f"Airflow UI ({what}): {info.url}", file=sys.stderr)
    print(f"  login: {info.user} / {info.password}", file=sys.stderr)
    print(f"  logs:  {UI_DIR}/{{api-server,scheduler,dag-processor,triggerer}}.log", file=sys.stderr)
    print("  stop:  bin/local-stack down", file=sys.stderr)
    return 0

"""`bin/local-stack up|down|status|env|ui`: the embedded stack a local run needs, without root or Docker.

Pieces: an embedded PostgreSQL (DSQL and SQL Server stand-in), a moto server (S3, EMR, Glue, DynamoDB,
Secrets Manager, DSQL control plane) and an Airflow home whose metadata DB is migrated. Everything lives
under `.local-stack/` and `up` is idempotent: it starts what is not running and reuses what is. `ui` starts
Airflow's UI on top of it (`devstack/ui.py`); `down` stops that too. The command itself: `devstack.cli`.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from devstack import postgres

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("LOCAL_STACK_DIR", ROOT / ".local-stack"))
STATE_FILE = STATE_DIR / "state.json"
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"
DSQL_DB = "postgres"  # DSQL has exactly one database, `postgres`
SOURCE_DB = "dms_sample"  # the SQL Server stand-in
# Airflow's own metadata DB: PostgreSQL, as on MWAA. The UI's four processes and the LocalExecutor's workers write
# it at once; SQLite answered them with `database is locked` (a backfill's `airflow backfill create`, in CI).
AIRFLOW_DB = "airflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state() -> dict:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    state = {"pg_port": _free_port(), "pg_password": postgres.new_password(), "moto_port": _free_port()}
    save_state(state)
    return state


def save_state(state: dict) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    tmp.replace(STATE_FILE)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _moto_up(port: int) -> None:
    pidfile = STATE_DIR / "moto.pid"
    if _pid_alive(pidfile) and _port_open(port):
        return
    log = open(STATE_DIR / "moto.log", "ab")  # noqa: SIM115 - handed to the child process
    # moto's server with DynamoDB writes one at a time: conditional writes as atomic as on AWS (devstack.moto_server)
    proc = subprocess.Popen([sys.executable, "-m", "devstack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    pidfile.write_text(str(proc.pid))
    for _ in range(100):
        if _port_open(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"moto server did not start on port {port}; see {STATE_DIR / 'moto.log'}")


def _moto_down() -> None:
    pid = _pid_alive(STATE_DIR / "moto.pid")
    if pid:
        os.killpg(pid, signal.SIGTERM)
    (STATE_DIR / "moto.pid").unlink(missing_ok=True)


def env_vars(state: dict) -> dict[str, str]:
    """The environment that points the airflow CLI, the DAGs and the tests at this stack."""
    moto = f"http://127.0.0.1:{state['moto_port']}"
    pg_port, pg_pw = state["pg_port"], state["pg_password"]
    airflow_home = STATE_DIR / "airflow"
    data = STATE_DIR / "data"
    pg_uri = f"postgresql://postgres:{quote(pg_pw, safe='')}@127.0.0.1:{pg_port}"
    dsql_conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": pg_port, "login": "postgres",
                 "password": pg_pw, "schema": DSQL_DB,
                 "extra": {"auth": "password", "sslmode": "disable", "region_name": REGION}}
    source_conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": pg_port, "login": "postgres",
                   "password": pg_pw, "schema": SOURCE_DB}
    aws_conn = {"conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {"region_name": REGION, "endpoint_url": moto}}
    return {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT / 'include'}",
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres:{quote(pg_pw, safe='')}"
                                               f"@127.0.0.1:{pg_port}/{AIRFLOW_DB}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_DSQL_DEFAULT": json.dumps(dsql_conn),
        "AIRFLOW_CONN_DMS_SAMPLE_SOURCE": json.dumps(source_conn),
        "AIRFLOW_CONN_RETAIL_SOURCE": json.dumps(source_conn),  # the same stand-in database, schema retail
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_conn),
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "DBMIGRATE_PROFILE": "local",
        "DBMIGRATE_QUARANTINE_URI": f"file://{STATE_DIR / 'quarantine'}",
        "DBMIGRATE_JVM_CACHE": str(STATE_DIR / "jvm"),  # local jobs' class archive (dbmigrate.local_spark)
        "LOCAL_DSQL_URI": f"{pg_uri}/{DSQL_DB}",
        "LOCAL_SOURCE_SQL_URI": f"{pg_uri}/{SOURCE_DB}",
        "LOCAL_REPORTS_DIR": str(STATE_DIR / "reports"),
        "LOCAL_DATA_DIR": str(data),
        "LOCAL_STACK_DIR": str(STATE_DIR),  # its passwords: never a source (dbmigrate.source_roots)
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def _seed_aws(env: dict[str, str]) -> None:
    """Buckets the specs stage into; moto keeps state in memory, so this runs on every `up`."""
    import boto3

    sys.path.insert(0, str(ROOT / "include"))
    from transforms.spec import load_specs

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    buckets = {s.staging_uri.split("/")[2] for s in load_specs(ROOT / "include" / "specs")}
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in sorted(buckets - existing):
        s3.create_bucket(Bucket=bucket)


def _airflow_up(env: dict[str, str], created: bool) -> None:
    """`airflow db migrate` once per metadata DB (`created`: its database is new, whatever the marker says)."""
    home = Path(env["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if marker.exists() and not created:
        return
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)
    marker.touch()


def up() -> None:
    state = _state()
    env = env_vars(state)
    for d in ("reports", "data", "quarantine"):
        (STATE_DIR / d).mkdir(parents=True, exist_ok=True)
    pgdata = STATE_DIR / "pgdata"
    postgres.init(pgdata, state["pg_password"])
    if not postgres.is_running(pgdata):
        postgres.start(pgdata, state["pg_port"], STATE_DIR / "postgres.log")
    postgres.ensure_database(state["pg_port"], state["pg_password"], SOURCE_DB)
    created = postgres.ensure_database(state["pg_port"], state["pg_password"], AIRFLOW_DB)
    _moto_up(state["moto_port"])
    _seed_aws(env)
    _airflow_up(env, created)
    print(f"local stack up: postgres 127.0.0.1:{state['pg_port']}, moto {env['AWS_ENDPOINT_URL']}, "
          f"AIRFLOW_HOME={env['AIRFLOW_HOME']}", file=sys.stderr)


def down() -> None:
    """Stop moto and PostgreSQL (`devstack.cli.down` stops the UIs first)."""
    _moto_down()
    postgres.stop(STATE_DIR / "pgdata")
    print("local stack down", file=sys.stderr)


def status() -> tuple[dict, bool]:
    """Print what runs; the state and whether PostgreSQL, moto and the migrated Airflow home are all there."""
    state = _state()
    pg = postgres.is_running(STATE_DIR / "pgdata")
    moto = _port_open(state["moto_port"])
    if moto:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{state['moto_port']}/moto-api/", timeout=2).close()
        except OSError:
            moto = False
    airflow = (STATE_DIR / "airflow" / ".migrated").exists()
    print(f"postgres: {'up' if pg else 'down'} (127.0.0.1:{state['pg_port']})")
    print(f"moto:     {'up' if moto else 'down'} (127.0.0.1:{state['moto_port']})")
    print(f"airflow:  {'migrated' if airflow else 'not migrated'} ({STATE_DIR / 'airflow'})")
    return state, pg and moto and airflow


def print_env() -> None:
    for key, value in env_vars(_state()).items():
        print(f"export {key}={shlex.quote(value)}")

"""connectors.dsql against the embedded PostgreSQL (DSQL stand-in) and boto3 pointed at moto.

The OCC tests use a real SQLSTATE 40001 raised by the server, not a mocked exception: a PL/pgSQL function
(fine on the stand-in, absent on DSQL) fails the first N calls, counted by a sequence because sequence
increments survive the rollback of the failed transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import psycopg
import pytest

from connectors.dsql import (
    DsqlTarget,
    RecyclingConnection,
    auth_token,
    connect,
    is_occ_conflict,
    run_with_retry,
)

DSQL_HOST = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"


@pytest.fixture
def flaky(target: DsqlTarget, pg_schema: str) -> Iterator[str]:
    """`<schema>.conflict_first(n)`: raises SQLSTATE 40001 (OC000) on the first n calls, then returns the call no."""
    with connect(target, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE {pg_schema}.calls")
        conn.execute(f"CREATE TABLE {pg_schema}.items (id int PRIMARY KEY)")
        conn.execute(f"""
            CREATE FUNCTION {pg_schema}.conflict_first(n int) RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE c bigint := nextval('{pg_schema}.calls');
            BEGIN
                IF c <= n THEN
                    RAISE EXCEPTION 'OC000: data conflict on call %', c USING ERRCODE = '40001';
                END IF;
                RETURN c;
            END $$""")
    yield pg_schema


class TestDsqlTarget:
    def test_defaults_are_dsql(self) -> None:
        t = DsqlTarget(host=DSQL_HOST, region="us-east-1")
        assert (t.port, t.user, t.database, t.auth, t.sslmode) == (5432, "admin", "postgres", "iam", "verify-full")
        assert t.is_dsql
        assert t.max_connection_age_s < 3600

    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"auth": "iam"}, "needs `region`"),
        ({"auth": "password"}, "needs `password`"),
        ({"auth": "kerberos", "region": "us-east-1"}, "auth must be one of"),
        ({"region": "us-east-1", "sslmode": "disable"}, "requires TLS"),
        ({"region": "us-east-1", "sslmode": "sometimes"}, "sslmode must be one of"),
        ({"region": "us-east-1", "max_connection_age_s": 3601}, "max_connection_age_s"),
        ({"region": "us-east-1", "token_expires_s": 0}, "token_expires_s"),
        ({"host": "", "region": "us-east-1"}, "host is required"),
    ])
    def test_rejects_unusable_config(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            DsqlTarget(**{"host": DSQL_HOST, **kwargs})

    def test_password_never_in_logs(self) -> None:
        t = DsqlTarget(host="localhost", auth="password", password="s3cret", sslmode="disable")
        assert not t.is_dsql
        assert "s3cret" not in repr(t)
        assert "s3cret" not in t.redacted() and "password='***'" in t.redacted()
        assert "password" not in t.to_dict()

    def test_round_trips_through_json(self) -> None:
        iam = DsqlTarget(host=DSQL_HOST, region="eu-west-1", user="migrator", token_expires_s=600)
        assert DsqlTarget.from_dict(json.loads(json.dumps(iam.to_dict()))) == iam
        pw = DsqlTarget(host="localhost", auth="password", password="pw", sslmode="disable")
        assert DsqlTarget.from_dict(json.loads(json.dumps(pw.to_dict(include_password=True)))) == pw

    def test_from_dict_rejects_unknown_keys(self) -> None:
        with pytest.raises(ValueError, match="unknown keys"):
            DsqlTarget.from_dict({"host": DSQL_HOST, "region": "us-east-1", "hostname": "x"})


class TestAuthToken:
    """Tokens are signed locally by boto3 (the environment points it at moto and fake keys)."""

    def test_admin_token(self, moto_endpoint: str) -> None:
        token = auth_token(DsqlTarget(host=DSQL_HOST, region="us-east-1"))
        assert token.startswith(f"{DSQL_HOST}/?Action=DbConnectAdmin&")
        assert "X-Amz-Expires=900" in token and "X-Amz-Signature=" in token

    def test_role_token_uses_plain_action_and_expiry(self, moto_endpoint: str) -> None:
        session = boto3.session.Session(aws_access_key_id="AKIDSESSION", aws_secret_access_key="x")
        token = auth_token(DsqlTarget(host=DSQL_HOST, region="us-east-1", user="migrator", token_expires_s=300),
                           session)
        assert token.startswith(f"{DSQL_HOST}/?Action=DbConnect&")
        assert "X-Amz-Expires=300" in token
        assert "X-Amz-Credential=AKIDSESSION%2F" in token  # signed with the session we passed

    def test_password_target_has_no_token(self) -> None:
        with pytest.raises(ValueError, match="not 'iam'"):
            auth_token(DsqlTarget(host="localhost", auth="password", password="pw", sslmode="disable"))


class TestConnect:
    def test_password_connection(self, target: DsqlTarget) -> None:
        with connect(target) as conn:
            row = conn.execute("SELECT current_setting('application_name'), current_database()").fetchone()
        assert row == ("dbmigrate", target.database)
        assert conn.closed

    def test_autocommit(self, target: DsqlTarget) -> None:
        with connect(target, autocommit=True) as conn:
            assert conn.autocommit


class TestRecyclingConnection:
    def test_reconnects_after_max_age(self, target: DsqlTarget) -> None:
        now = [1000.0]
        target = DsqlTarget.from_dict({**target.to_dict(include_password=True), "max_connection_age_s": 60})
        with RecyclingConnection(target, autocommit=True, clock=lambda: now[0]) as rc:
            first = rc.get()
            pid = first.info.backend_pid
            now[0] += 59
            assert rc.get() is first and rc.connects == 1
            now[0] += 1
            second = rc.get()
            assert second is not first and first.closed and rc.connects == 2
            assert second.info.backend_pid != pid
            assert rc.age_s == 0
        assert second.closed

    def test_reconnects_when_closed(self, target: DsqlTarget) -> None:
        with RecyclingConnection(target) as rc:
            rc.get().close()
            assert rc.get().execute("SELECT 1").fetchone() == (1,)
            assert rc.connects == 2

    def test_keeps_connection_in_open_transaction(self, target: DsqlTarget) -> None:
        now = [0.0]
        with RecyclingConnection(target, clock=lambda: now[0]) as rc:
            conn = rc.get()
            conn.execute("SELECT 1")  # opens a transaction (autocommit off)
            now[0] += target.max_connection_age_s + 1
            assert rc.get() is conn  # swapping now would lose the transaction
            conn.commit()
            assert rc.get() is not conn


class TestOccRetry:
    def _insert_then_check(self, target: DsqlTarget, schema: str, fail_first: int, calls: list[int]) -> int:
        """One whole transaction per call: write a row, then hit the conflict check before COMMIT."""
        calls.append(1)
        with connect(target) as conn:
            conn.execute(f"INSERT INTO {schema}.items VALUES (1)")
            return int(conn.execute(f"SELECT {schema}.conflict_first(%s)", (fail_first,)).fetchone()[0])

    def test_retries_conflicts_to_success(self, target: DsqlTarget, flaky: str) -> None:
        calls: list[int] = []
        sleeps: list[float] = []
        retries: list[tuple[int, bool]] = []
        result = run_with_retry(
            lambda: self._insert_then_check(target, flaky, 2, calls), attempts=6, base_delay_s=0.01,
            sleep=sleeps.append, on_retry=lambda n, exc, delay: retries.append((n, is_occ_conflict(exc))),
        )
        assert result == 3 and len(calls) == 3
        assert retries == [(1, True), (2, True)]
        assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.01 and 0 <= sleeps[1] <= 0.02  # full jitter, doubling
        with connect(target) as conn:  # the failed attempts rolled back: exactly one row
            assert conn.execute(f"SELECT count(*) FROM {flaky}.items").fetchone() == (1,)

    def test_does_not_retry_other_errors(self, target: DsqlTarget, flaky: str) -> None:
        calls: list[int] = []
        sleeps: list[float] = []

        def fn() -> None:
            calls.append(1)
            with connect(target) as conn:
                conn.execute("SELECT 1 / 0")

        with pytest.raises(psycopg.errors.DivisionByZero) as err:
            run_with_retry(fn, sleep=sleeps.append)
        assert not is_occ_conflict(err.value)
        assert len(calls) == 1 and sleeps == []

    def test_gives_up_after_attempts(self, target: DsqlTarget, flaky: str) -> None:
        calls: list[int] = []
        sleeps: list[float] = []
        with pytest.raises(psycopg.errors.SerializationFailure, match="OC000") as err:
            run_with_retry(lambda: self._insert_then_check(target, flaky, 100, calls), attempts=3,
                               base_delay_s=10, max_delay_s=0.5, sleep=sleeps.append)
        assert err.value.sqlstate == "40001"
        assert len(calls) == 3 and len(sleeps) == 2
        assert all(0 <= s <= 0.5 for s in sleeps)  # capped by max_delay_s

    def test_rejects_zero_attempts(self) -> None:
        with pytest.raises(ValueError, match="attempts"):
            run_with_retry(lambda: None, attempts=0)

    def test_is_occ_conflict_only_for_40001(self) -> None:
        assert not is_occ_conflict(RuntimeError("40001"))
        assert not is_occ_conflict(psycopg.OperationalError("no sqlstate"))

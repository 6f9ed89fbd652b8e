"""transforms.ddl_lint: statement splitting, the DSQL rules, and agreement with the dsql-lint CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from transforms.ddl_lint import RULES, LintIssue, for_postgres, is_ddl, lint_dsql, split_statements

ROOT = Path(__file__).resolve().parents[3]
SQL_FILES = sorted((ROOT / "include" / "sql").glob("*/*.sql"))


def dsql_lint_cli() -> str:
    local = Path(sys.executable).parent / "dsql-lint"
    found = str(local) if local.exists() else shutil.which("dsql-lint")
    assert found, "dsql-lint CLI not installed in the venv"
    return found


def run_dsql_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([dsql_lint_cli(), str(path)], capture_output=True, text=True, timeout=60)


def rules(sql: str) -> set[str]:
    return {i.rule for i in lint_dsql(sql)}


# rule -> (a statement DSQL rejects, the same words only in comments / literals / identifiers)
CASES = {
    "foreign_key": (
        "CREATE TABLE a (id uuid PRIMARY KEY, b_id uuid REFERENCES b (id))",
        "CREATE TABLE a (id uuid PRIMARY KEY, b_id uuid) -- no foreign keys: b_id REFERENCES b (id)",
    ),
    "jsonb": (
        "CREATE TABLE a (id uuid PRIMARY KEY, doc jsonb)",
        "CREATE TABLE a (id uuid PRIMARY KEY, doc json DEFAULT '{\"type\": \"jsonb\"}', jsonb text)",
    ),
    "array_type": (
        "CREATE TABLE a (id uuid PRIMARY KEY, tags text[])",
        "CREATE TABLE a (id uuid PRIMARY KEY, tags json) /* was text[] or ARRAY */",
    ),
    "trigger": (
        "CREATE OR REPLACE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()",
        "COMMENT ON TABLE a IS 'filled without a trigger'",
    ),
    "temp_table": (
        "CREATE TEMP TABLE scratch (id int)",
        "CREATE TABLE \"temp\" (id int PRIMARY KEY) -- CREATE TEMP TABLE would be nicer",
    ),
    "truncate": ("TRUNCATE movie_db.movies", "DELETE FROM a WHERE note = 'truncate me'"),
    "savepoint": ("SAVEPOINT before_load", "SELECT 'SAVEPOINT before_load'"),
    "extension": ("CREATE EXTENSION IF NOT EXISTS pgcrypto", "SELECT 1 -- CREATE EXTENSION pgcrypto"),
    "plpgsql": (
        "DO $$ BEGIN RAISE NOTICE 'hi'; END $$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 /* not LANGUAGE plpgsql */ $$",
    ),
    "sync_index": (
        "CREATE UNIQUE INDEX ix ON a (b)",
        "CREATE INDEX ASYNC ix ON a (b) -- CREATE INDEX ix ON a (b) would block",
    ),
    "transaction_block": ("BEGIN", "SELECT 'BEGIN; COMMIT'"),
    "serial_type": (
        "CREATE TABLE a (id bigserial PRIMARY KEY)",
        "CREATE TABLE a (id uuid PRIMARY KEY, serial text) -- was: id serial",
    ),
}


class TestSplitStatements:
    def test_tricky_input(self) -> None:
        sql = """
        -- header; with a semicolon
        CREATE TABLE "we;ird" ("a""b" text DEFAULT 'x;y', c text DEFAULT E'it\\'s; fine');;
        /* block; /* nested; */ still comment; */
        CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $fn$ SELECT 'a;b' $fn$;
        SELECT $$;$$, $1;   -- trailing comment; here
        ;
        SELECT 'no trailing semicolon'
        -- only a comment;
        """
        assert split_statements(sql) == [
            "CREATE TABLE \"we;ird\" (\"a\"\"b\" text DEFAULT 'x;y', c text DEFAULT E'it\\'s; fine')",
            "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $fn$ SELECT 'a;b' $fn$",
            "SELECT $$;$$, $1",
            "SELECT 'no trailing semicolon'",
        ]

    def test_inner_comments_kept(self) -> None:
        assert split_statements("SELECT 1 -- one\n + 2;") == ["SELECT 1 -- one\n + 2"]

    def test_empty(self) -> None:
        assert split_statements(" ;; -- nothing\n /* here */ ") == []

    @pytest.mark.parametrize("sql", ["SELECT 'open", "SELECT $x$ open", "SELECT 1 /* open", 'SELECT "open'])
    def test_unterminated_literal(self, sql: str) -> None:
        with pytest.raises(ValueError, match="unterminated"):
            split_statements(sql)


class TestLintDsql:
    @pytest.mark.parametrize("rule", sorted(RULES))
    def test_rule_fires_on_bad_statement(self, rule: str) -> None:
        bad, _ = CASES[rule]
        assert rule in rules(bad)

    @pytest.mark.parametrize("rule", sorted(RULES))
    def test_rule_ignores_comments_and_literals(self, rule: str) -> None:
        _, harmless = CASES[rule]
        assert rules(harmless) == set()

    @pytest.mark.parametrize(("sql", "rule"), [
        ("CREATE TABLE a (id uuid PRIMARY KEY, b uuid, FOREIGN KEY (b) REFERENCES b (id))", "foreign_key"),
        ("CREATE TABLE a (id uuid PRIMARY KEY, r numeric(3,1)[3])", "array_type"),
        ("CREATE TABLE a (id uuid PRIMARY KEY, t int ARRAY)", "array_type"),
        ("CREATE GLOBAL TEMPORARY TABLE s (id int)", "temp_table"),
        ("CREATE FUNCTION f() RETURNS trigger LANGUAGE sql AS 'SELECT 1'", "trigger"),
        ("CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql", "plpgsql"),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE 'plpgsql' AS 'BEGIN RETURN 1; END'", "plpgsql"),
        ("CREATE INDEX CONCURRENTLY ix ON a (b)", "sync_index"),
        ("ROLLBACK TO SAVEPOINT s", "savepoint"),
        ("RELEASE SAVEPOINT s", "savepoint"),
        ("COMMIT", "transaction_block"),
        ("START TRANSACTION", "transaction_block"),
        ("ALTER TABLE a ADD COLUMN n serial", "serial_type"),
    ])
    def test_variants(self, sql: str, rule: str) -> None:
        assert rule in rules(sql)

    def test_statement_numbers_and_messages(self) -> None:
        sql = ("CREATE SCHEMA IF NOT EXISTS s;\n-- fine\n"
               "CREATE TABLE s.a (id uuid PRIMARY KEY, d jsonb, b uuid REFERENCES s.b);")
        assert lint_dsql(sql) == [LintIssue(2, "foreign_key", RULES["foreign_key"]),
                                  LintIssue(2, "jsonb", RULES["jsonb"])]
        assert str(lint_dsql(sql)[1]).startswith("statement 2: [jsonb]")

    def test_column_named_like_keywords_is_fine(self) -> None:
        assert rules("CREATE TABLE a (id uuid PRIMARY KEY, language text, serial text, trigger_name text)") == set()

    @pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
    def test_shipped_ddl_passes_both_linters(self, path: Path) -> None:
        assert lint_dsql(path.read_text(encoding="utf-8")) == []
        result = run_dsql_lint(path)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_shipped_ddl_exists(self) -> None:
        assert {p.name for p in SQL_FILES} >= {"001_schema.sql", "010_movies.sql", "060_indexes.sql"}

    @pytest.mark.parametrize(("sql", "rule"), [
        ("CREATE TABLE a (id uuid PRIMARY KEY, b_id uuid REFERENCES b (id));", "foreign_key"),
        ("CREATE TABLE a (id uuid PRIMARY KEY, doc jsonb);", "jsonb"),
    ])
    def test_catches_what_dsql_lint_misses(self, tmp_path: Path, sql: str, rule: str) -> None:
        path = tmp_path / "bad.sql"
        path.write_text(sql + "\n", encoding="utf-8")
        assert run_dsql_lint(path).returncode == 0  # dsql-lint 0.2.22 passes it; DSQL rejects it
        assert rule in rules(sql)


class TestForPostgres:
    @pytest.mark.parametrize(("dsql", "pg"), [
        ("CREATE INDEX ASYNC IF NOT EXISTS ix ON s.a (b)", "CREATE INDEX IF NOT EXISTS ix ON s.a (b)"),
        ("create unique index async ix on a (b)", "create unique index ix on a (b)"),
        ("CREATE INDEX /* async build */ ASYNC ix ON a (b)", "CREATE INDEX /* async build */ ix ON a (b)"),
    ])
    def test_drops_async(self, dsql: str, pg: str) -> None:
        assert for_postgres(dsql) == pg

    @pytest.mark.parametrize("sql", [
        "CREATE TABLE async (id int)",
        "CREATE INDEX ix ON a (b)",
        "COMMENT ON INDEX ix IS 'CREATE INDEX ASYNC'",
        "SELECT 1",
    ])
    def test_leaves_other_statements_alone(self, sql: str) -> None:
        assert for_postgres(sql) == sql


@pytest.mark.parametrize(("sql", "expected"), [
    ("CREATE TABLE a (id int)", True),
    ("-- c\nalter table a add column b text", True),
    ("DROP INDEX ix", True),
    ("INSERT INTO a VALUES (1)", False),
    ("SELECT 'CREATE TABLE x'", False),
    ("", False),
])
def test_is_ddl(sql: str, expected: bool) -> None:
    assert is_ddl(sql) is expected

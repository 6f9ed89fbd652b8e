"""In a browser, as a user would: log into Airflow's UI on the embedded stack, trigger `movie_collection_to_dsql`
from its trigger form with every param at its default but one, wait for the run to succeed, and find the
migration summary in the run's note.

Drives Debian's Chromium (`bin/install-system-deps`) with Playwright; Playwright never downloads a browser here.
The UI is the session's (`tests.fixtures.airflow_ui`: its own deployment, whose movie DAG writes `ui_movie_db`);
its backfills (`ui_backfills`) and a run of a missing source (`ui_missing_source`) are started first, so its
scheduler runs them while the browser drives the form.
Screenshots of the trigger form and of the run's note go to `.local-stack/screenshots/` (to `docs/` with
DBMIGRATE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from devstack import ui
from generators.movie_collection import write
from tests.fixtures.airflow_ui import SCHEMAS, UiWorld, wait_for_run
from tests.fixtures.backfills import Backfills
from tests.fixtures.session_runs import UiRun, drop_schema

pytestmark = pytest.mark.e2e

DAG_ID = "movie_collection_to_dsql"
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots land beside the stack's state; `DBMIGRATE_UPDATE_SCREENSHOTS=1` refreshes the ones kept in docs/.
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" if os.environ.get("DBMIGRATE_UPDATE_SCREENSHOTS") else ROOT / ".local-stack" / "screenshots"
# Without the background-networking flags Chromium's own connections are refused on a closed network and
# slow everything down; --headless=new is what `--headless` means since Chromium 112.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 8 * 60
SAMPLE_SIZE = 50  # the one param the test changes in the form (default 200)
BACKFILL_SOURCE = "file:///data/movie_collection.json"  # what the Backfill dialog is given (never run)


def _require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (as root: bin/install-system-deps, or apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing (make venv installs requirements-dev.txt)")


@pytest.fixture(scope="module")
def movie_export(airflow_ui: UiWorld, dsql_uri: str) -> dict:
    """The DAG's default local source ($LOCAL_DATA_DIR/movie_collection.json of the test UI), small: the run takes a
    minute; its target emptied (the deploy task makes it again)."""
    drop_schema(dsql_uri, SCHEMAS[DAG_ID])
    return write(airflow_ui.data_dir / "movie_collection.json", movies=150, seed=42, bad_input=True)


@pytest.fixture(scope="module")
def browser_ready(airflow_ui: UiWorld, ui_missing_source: UiRun, ui_backfills: Backfills) -> UiWorld:
    """The session's UI with Chromium and Playwright at hand, and its other runs under way (the missing source's
    run goes first: the browser's run waits for it, one run of the DAG at a time)."""
    _require_browser()
    return airflow_ui


@pytest.fixture
def page(browser_ready: UiWorld):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # the UI answers slowly while the backfills run beside it: 120 s for each step and each `expect` (whose
        # own default, 5 s, failed the form's first check on a loaded machine)
        context.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        pg = context.new_page()
        yield pg
        context.close()
        browser.close()


def _login(page, info: ui.UiInfo) -> None:
    page.goto(f"{info.url}/", wait_until="domcontentloaded")
    page.get_by_label("Username").fill(info.user)
    page.get_by_label("Password").fill(info.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/auth/login" not in u)


def test_trigger_from_the_form_and_read_the_note(page, browser_ready: UiWorld, movie_export: dict) -> None:
    from playwright.sync_api import expect

    info, api = browser_ready.info, browser_ready.api
    DOCS.mkdir(parents=True, exist_ok=True)
    _login(page, info)

    # The DAG's page and its trigger form: every param shown with its default, all optional but one changed.
    page.goto(f"{info.url}/dags/{DAG_ID}", wait_until="domcontentloaded")
    trigger = page.get_by_role("button", name="Trigger Dag")
    expect(trigger).to_be_enabled()
    trigger.click()
    form = page.get_by_role("dialog")
    expect(form.get_by_text(f"Trigger Dag - {DAG_ID}")).to_be_visible()
    expect(form.get_by_text("Run Parameters")).to_be_visible()
    for title in ("Source URI", "Validation sample size", "Dry run"):  # the params' titles
        expect(form.get_by_text(title).first).to_be_visible()
    expect(form.get_by_role("checkbox", name="Dry run")).not_to_be_checked()
    sample = form.get_by_role("spinbutton", name="Validation sample size")
    expect(sample).to_have_value("200")
    sample.fill(str(SAMPLE_SIZE))
    sample.press("Tab")
    expect(sample).to_have_value(str(SAMPLE_SIZE))
    submit = form.get_by_role("button", name="Trigger", exact=True)
    expect(submit).to_be_enabled()  # disabled while a param is invalid, e.g. a required one left empty
    page.screenshot(path=str(DOCS / "ui-trigger-form.png"))

    with page.expect_response(lambda r: r.request.method == "POST" and
                              r.url.rstrip("/").endswith(f"/dags/{DAG_ID}/dagRuns")) as posted:
        submit.click()
    assert posted.value.ok, f"trigger failed: {posted.value.status} {posted.value.text()}"
    created = posted.value.json()
    run_id = created["dag_run_id"]
    assert created["conf"]["validation_sample_size"] == SAMPLE_SIZE, created["conf"]
    assert not created["conf"].get("source_uri") and created["conf"].get("dry_run") in (None, False), created["conf"]

    page.goto("about:blank")  # while the run runs: the DAG's page would poll the API server all along
    run = wait_for_run(api, DAG_ID, run_id, RUN_TIMEOUT_S, browser_ready.instance)
    assert run["state"] == "success", f"run {run_id} {run['state']}\n{browser_ready.diagnostics(DAG_ID, run_id)}"

    # The run's page: the note holds the migration summary (set by the dbmigrate listener when the run ended).
    note = run.get("note") or ""
    assert "PASSED" in note, f"the run's note (REST API) has no summary: {note!r}"
    page.goto(f"{info.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}", wait_until="domcontentloaded")
    expect(page.get_by_text(run_id).first).to_be_visible()
    expect(page.get_by_text("PASSED").first).to_be_visible()  # the note's first line, in the run's header
    page.get_by_role("button", name="Edit note").click()  # opens the whole note, rendered
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Dag Run Note")).to_be_visible()
    expect(dialog.get_by_text("PASSED", exact=True)).to_be_visible()
    for entity in movie_export["entities"]:  # movie, actor, director, movie_actor, movie_director
        expect(dialog.get_by_role("cell", name=entity, exact=True)).to_be_visible()
    page.screenshot(path=str(DOCS / "ui-run-note.png"))

    # The tables the run published as assets: every asset's dependency graph answers (through psycopg 3, Airflow's
    # `get_dag_dependencies` failed with `jsonb #> character varying`: a 500 on every asset page), and an asset's
    # page shows the graph of the DAG that writes it.
    assets = api("GET", "/assets?limit=100")["assets"]
    assert {a["name"] for a in assets} >= {f"ui_movie_db.{t}" for t in ("movies", "actors", "movie_actors")}, assets
    for asset in assets:
        req = urllib.request.Request(f"{info.url}/ui/dependencies?node_id=asset:{asset['id']}",
                                     headers={"Authorization": f"Bearer {api._token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200 and json.loads(resp.read())["nodes"], asset["name"]
    movies = next(a for a in assets if a["name"] == "ui_movie_db.movies")
    page.goto(f"{info.url}/assets/{movies['id']}", wait_until="domcontentloaded")
    expect(page.get_by_text("ui_movie_db.movies").first).to_be_visible()
    graph = page.locator(".react-flow__node")
    expect(graph.filter(has_text=DAG_ID).first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(DOCS / "ui-asset-graph.png"))


def test_the_backfill_dialog_sends_its_params_only_with_the_override_tick(page, browser_ready: UiWorld) -> None:
    """The Backfill dialog as the README recommends it (All Runs, the source in Run Parameters, "Override parameters
    on existing runs" ticked), captured as it would create the backfill (the request is answered here, so nothing
    runs): with the tick the runs get the params; without it none, and every run would load the default source."""
    from playwright.sync_api import expect

    info = browser_ready.info
    DOCS.mkdir(parents=True, exist_ok=True)
    _login(page, info)
    page.goto(f"{info.url}/dags/{DAG_ID}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Trigger Dag").click()
    form = page.get_by_role("dialog")
    form.get_by_text("Backfill", exact=True).first.click()
    form.locator("input[name=from_date]").fill("2024-01-02T00:00")
    form.locator("input[name=to_date]").fill("2024-01-04T00:00")
    expect(form.get_by_text("3 runs will be triggered.")).to_be_visible()  # the dates name each day's end
    form.get_by_text("All Runs", exact=True).click()
    override = form.get_by_role("checkbox", name="Override parameters on existing runs")
    tick = form.locator("label[data-scope=checkbox]", has_text="Override parameters on existing runs")
    if not override.is_checked():
        tick.click()
    expect(override).to_be_checked()
    form.locator("#element_source_uri").fill(BACKFILL_SOURCE)
    page.screenshot(path=str(DOCS / "ui-backfill-dialog.png"))

    sent: list[dict] = []

    def answer(route) -> None:  # noqa: ANN001 - Playwright's Route
        if route.request.method == "POST" and route.request.url.split("?")[0].rstrip("/").endswith("/backfills"):
            sent.append(route.request.post_data_json)
            route.fulfill(status=409, json={"detail": "answered by the test: no backfill is made"})
        else:
            route.continue_()

    page.route("**/backfills**", answer)
    run = form.get_by_role("button", name="Run Backfill")
    run.click()
    _until(page, lambda: sent)
    with_tick = list(sent)
    tick.click()
    expect(override).not_to_be_checked()
    run.click()
    _until(page, lambda: len(sent) > len(with_tick))
    without = sent[len(with_tick):]
    assert with_tick and without, sent
    assert with_tick[0]["reprocess_behavior"] == "completed"
    assert with_tick[0]["dag_run_conf"]["source_uri"] == BACKFILL_SOURCE
    assert not without[0]["dag_run_conf"], without[0]  # no params: the runs would load the default source


def _until(page, ready, timeout_s: float = 60) -> None:  # noqa: ANN001 - a Playwright page, a predicate
    """Let the page work until `ready()` holds."""
    for _ in range(int(timeout_s * 5)):
        if ready():
            return
        page.wait_for_timeout(200)
    raise AssertionError("the page never sent what was expected")

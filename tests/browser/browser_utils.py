"""Fixtures and helpers for end-to-end tests in real headless Chromium (Playwright).

Use from a test module with ``pytest_plugins = ["tests.browser.browser_utils"]`` and mark the tests
``@pytest.mark.browser``. Fixtures:

- ``chromium_browser`` (session): Debian's ``chromium`` driven by Playwright. Skipped when
  chromium is missing, unless MARKETUNE_REQUIRE_BROWSER is set (CI), where that is a failure.
- ``streamlit_app``: ``streamlit run app.py`` on a free localhost port, with its own empty
  MARKETUNE_MODELS_DIR, MARKETUNE_JOBS_DIR and MARKETUNE_LABELS_DIR (training workers inherit
  them), so nothing is written into the repo's .marketune/. It yields a :class:`StreamlitApp`
  (``url``, ``models_dir``, ``jobs_dir``, ``labels_dir``); seed ``models_dir`` before opening a
  page if a test needs saved models. On teardown, running training jobs are
  cancelled and the server is stopped.
- ``page``: a fresh browser tab (1400x1000) per test.

Helpers find widgets by their ``key=``: Streamlit gives each keyed element's container the
CSS class ``st-key-<key>`` (see :func:`by_key`). Each acts on a settled page (no script run going
on, :func:`settle`) and waits for the run its action starts (:func:`wait_idle`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT = 60  # seconds for the server to answer its health check


@dataclass(frozen=True)
class StreamlitApp:
    url: str  # http://127.0.0.1:<port>
    models_dir: Path
    jobs_dir: Path
    process: subprocess.Popen
    log: Path  # the server's stdout and stderr
    labels_dir: Path  # the Label page's projects (MARKETUNE_LABELS_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_streamlit(
    models_dir: Path, jobs_dir: Path, log: Path, env: dict[str, str] | None = None, options: tuple[str, ...] = (),
    port: int | None = None,
) -> StreamlitApp:
    """Start the app headless on a free port and wait until it answers; raise if it does not.

    Labelling projects go to ``labels`` next to ``models_dir`` (unless ``env`` says otherwise).
    Everything else comes from the project's .streamlit/config.toml (file watcher off), as for a
    user; ``options`` adds command-line settings such as ``("--server.fileWatcherType", "auto")``.
    ``port``: a port chosen beforehand (sign-in's redirect URI names it), else a free one.
    """
    port = port or free_port()
    environment = {
        **os.environ,
        "MARKETUNE_MODELS_DIR": str(models_dir),
        "MARKETUNE_JOBS_DIR": str(jobs_dir),
        "MARKETUNE_LABELS_DIR": str(models_dir.parent / "labels"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        *options,
    ]  # fmt: skip
    handle = open(log, "wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_streamlit(process)
            raise RuntimeError(f"streamlit did not start on {url}; its log:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)
    return StreamlitApp(url, models_dir, jobs_dir, process, log, Path(environment["MARKETUNE_LABELS_DIR"]))


def stop_streamlit(process: subprocess.Popen) -> None:
    """Stop the server (its own process group, so nothing of it is left behind)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def kill_streamlit(process: subprocess.Popen) -> None:
    """SIGKILL to the server's process group, as an out-of-memory kill or a crash: none of the
    server's clean-up code runs (training workers run in sessions of their own and live on)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def cancel_jobs(jobs_dir: Path, timeout: float = 60) -> None:
    """Cancel the app's running jobs (training and targeting) and wait for their workers to stop."""
    from core.jobs import cancel_job, list_jobs

    for job in list_jobs(jobs_dir, kind=None):
        if job.active:
            cancel_job(job.id, jobs_dir)
    deadline = time.monotonic() + timeout
    while any(j.active for j in list_jobs(jobs_dir, kind=None)) and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture
def streamlit_app(tmp_path) -> Iterator[StreamlitApp]:
    app = start_streamlit(tmp_path / "models", tmp_path / "jobs", tmp_path / "streamlit.log")
    try:
        yield app
    finally:
        cancel_jobs(app.jobs_dir)  # workers run in their own sessions and outlive the server
        stop_streamlit(app.process)


@pytest.fixture(scope="session")
def chromium_browser():
    executable = shutil.which("chromium")
    if not executable:
        message = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("MARKETUNE_REQUIRE_BROWSER"):
            pytest.fail(message + "; MARKETUNE_REQUIRE_BROWSER is set, so browser tests must run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, save what the browser showed at that moment (before any
    fixture's teardown stops the app): test-artifacts/FAILED-<test>.png and .txt (the page's
    text), since a timeout alone says nothing. CI keeps the folder."""
    outcome = yield
    report = outcome.get_result()
    tab = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and tab is not None:
        name = f"FAILED-{item.name}"
        try:
            screenshot(tab, f"{name}.png")
            (ARTIFACTS / f"{name}.txt").write_text(tab.inner_text("body"), encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - a broken page must not hide the test's own failure
            print(f"no failure screenshot: {exc}")


@pytest.fixture
def page(chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)  # a script run can take seconds on a busy 2-core machine
    try:
        yield tab
    finally:
        context.close()


# ------------------------------------------------------------------------------ helpers


def by_key(page, key: str):
    """The container of the element created with ``key=`` (Streamlit's ``st-key-<key>`` class).

    Copies that Streamlit keeps on screen while a rerun replaces them (``data-stale="true"``)
    are left out, so the locator finds the current element only.
    """
    return page.locator(f'.st-key-{key}:not([data-stale="true"])')


# Streamlit's app root says at once whether a script run is going on (data-test-script-state:
# "running", "notRunning", ...); its status widget ("Running...") shows only after a delay, so a
# quick look for it (as wait_idle did) misses a run that starts late on a busy machine. This counts
# the runs the page has seen end, so that a helper waits for the run its own action started.
_RUNS_ENDED = """() => {
  if (window.__marketuneRunsEnded === undefined) {
    window.__marketuneRunsEnded = 0;
    window.__marketuneStateChanged = performance.now();
    new MutationObserver(records => {
      for (const record of records) {
        if (record.oldValue === 'running') window.__marketuneRunsEnded += 1;
      }
      window.__marketuneStateChanged = performance.now();
    }).observe(document.documentElement, {subtree: true, attributes: true, attributeOldValue: true,
                                          attributeFilter: ['data-test-script-state']});
  }
  return window.__marketuneRunsEnded;
}"""
_STATE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
# Idle: no run going on for QUIET_MS. A script that calls st.rerun() ends one run and starts the next
# at once; the pause lets that next run show before the page counts as idle.
_IDLE = f"""([since, quiet]) => window.__marketuneRunsEnded > since && {_STATE} !== 'running'
    && performance.now() - window.__marketuneStateChanged >= quiet"""
_BUSY = f"([since]) => window.__marketuneRunsEnded > since || {_STATE} === 'running'"
QUIET_MS = 300
START_TIMEOUT_MS = 10_000  # for the run an interaction starts to begin (or none, when nothing changed)


def runs_ended(page) -> int:
    """How many script runs the page has seen end (counting from the first call on this document)."""
    return page.evaluate(_RUNS_ENDED)


def wait_idle(page, timeout: float = 60_000, since: int | None = None) -> None:
    """Wait until the script run triggered by the last interaction has finished.

    ``since``: :func:`runs_ended` taken just before the interaction; then this waits (up to
    START_TIMEOUT_MS) for a run to begin after it, and for the app to be idle. Without it, a run
    that is going on now, or begins within 2 seconds, is waited for.
    """
    if since is None:
        since = runs_ended(page)
        start_timeout = 2_000
    else:
        if runs_ended(page) < since:  # a new document (the page was reloaded): its count began at 0
            since = -1
        start_timeout = START_TIMEOUT_MS
    try:
        page.wait_for_function(_BUSY, arg=[since], timeout=start_timeout, polling=100)
    except PlaywrightTimeoutError:  # no run began: the interaction changed nothing the script reads
        return
    page.wait_for_function(_IDLE, arg=[since, QUIET_MS], timeout=timeout, polling=100)


def open_page(page, app: StreamlitApp, url_path: str = "") -> None:
    """Open one of the app's pages (``url_path`` as in st.Page, e.g. "train") and wait for it."""
    page.goto(f"{app.url}/{url_path}")
    wait_ready(page)


def wait_ready(page) -> None:
    """Wait for a full run of app.py: its sidebar (navigation and the active-model box) is drawn.

    Before that, Streamlit may briefly show its own page list made from the pages/ folder.
    """
    page.get_by_test_id("stSidebar").get_by_text("Active model").first.wait_for()
    wait_idle(page)


def settle(page, timeout: float = 60_000) -> None:
    """Wait until no script run is going on (for QUIET_MS): a run still drawing the page replaces its
    elements, so a list opened or a link clicked meanwhile can be detached under the pointer."""
    runs_ended(page)
    page.wait_for_function(_IDLE, arg=[-1, QUIET_MS], timeout=timeout, polling=100)


def _interact(page, action: Callable[[], None]) -> None:
    """Do ``action`` on a settled page, then wait for the script run it starts."""
    settle(page)
    since = runs_ended(page)
    action()
    wait_idle(page, since=since)


def nav_to(page, title: str) -> None:
    """Go to a page by clicking its link (its st.Page title) in the sidebar navigation."""
    # Streamlit's own navigation (stSidebarNav) or the menu app.py draws when that is hidden.
    _interact(page, page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True).first.click)


def upload(page, key: str, path: Path) -> None:
    """Put a file into the st.file_uploader made with ``key`` through its real <input type=file>."""
    _interact(page, lambda: by_key(page, key).locator('input[type="file"]').set_input_files(str(path)))


def choose(page, key: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` (its visible text, or part of it) in the st.selectbox made with ``key``, and
    check that the box shows it."""
    box = by_key(page, key).get_by_role("combobox")
    chosen = re.compile(re.escape(option))
    settle(page)
    if chosen.search(box.input_value()):
        return  # chosen already: picking it again starts no run
    for attempt in range(attempts):
        since = runs_ended(page)
        box.click()
        box.fill(option)  # filters the list down to the option (and opens it)
        try:  # located afresh on each try: the list is drawn again whenever the box is
            page.get_by_role("option").filter(has_text=option).first.click(timeout=15_000)
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")  # close the list and start over once the page is settled
            settle(page)
            continue
        wait_idle(page, since=since)
        break
    expect(box).to_have_value(chosen, timeout=15_000)


def options_of(page, key: str, attempts: int = 3) -> list[str]:
    """The visible texts of the options of the st.selectbox made with ``key`` (its list opened on a
    settled page, read, then closed). ``.all()`` does not wait for the list to be drawn, and a run
    that ends under the click closes it again: each try opens it afresh."""
    box = by_key(page, key).get_by_role("combobox")
    for attempt in range(attempts):
        settle(page)
        box.click()
        try:
            page.get_by_role("option").first.wait_for(timeout=15_000)
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            if attempt == attempts - 1:
                raise
            continue
        names = [o.inner_text().strip() for o in page.get_by_role("option").all()]
        page.keyboard.press("Escape")
        return names
    return []


def fill(page, key: str, value: str) -> None:
    """Type into the st.text_input / st.number_input made with ``key`` and commit it (Enter)."""
    field = by_key(page, key).locator("input")

    def type_and_commit() -> None:
        field.fill(value)
        field.press("Enter")

    _interact(page, type_and_commit)


def click(page, key: str) -> None:
    """Click the st.button made with ``key``."""
    _interact(page, by_key(page, key).locator("button").first.click)


def screenshot(page, name: str, max_height: int = 8000) -> Path:
    """Save a screenshot of the whole page as test-artifacts/<name> and return its path.

    Streamlit scrolls inside its main section, so a "full page" screenshot would show one
    screen only: the window is made as tall as the content (up to ``max_height``) for the shot.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    size = page.viewport_size
    height = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? document.body.scrollHeight"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 50, max_height))})
    page.wait_for_timeout(500)  # let plotly resize its figures
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path

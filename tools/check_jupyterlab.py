"""Check the course in JupyterLab the way a learner uses it: in a real (headless) browser.

Starts JupyterLab with the command `python3 course.py lab` runs (course.lab_command, so
--allow-root is added as root just as for a learner), on a temporary copy of the notebooks
folder (autosave may write there; the repository's notebooks are never touched), on
127.0.0.1 at a free port with a random token, then checks:
  1. /lab answers 200 with a page that says "JupyterLab";
  2. the contents API lists the notebook and serves it as a valid nbformat 4 notebook;
  3. in Chromium driven by Selenium: the notebook opens, its kernel starts, Edit > Clear
     Outputs of All Cells then Run > Run All Cells run it through the menus, and once the
     kernel is idle every code cell has run and the outputs rendered: a plot (an <img>),
     the exercise verdicts ("Exercise ..." lines), a progress-bar widget in every cell that
     calls tqdm, and no error (no traceback or "...Error" on stderr, no broken widget) outside
     cells tagged raises-exception.
The server, the browser and the kernel are always stopped, also on an error, Ctrl-C or
SIGTERM. Jupyter's config, data and settings folders point into a temporary folder, so the
check neither reads nor writes the user's own.

Step 3 needs the selenium package (requirements-dev.txt) and Debian's chromium and
chromium-driver (`apt-get install chromium chromium-driver`; Selenium never downloads a
browser or a driver here). Without them the script says SKIPPED and exits 0 after steps 1-2,
unless --require-browser is given or the environment variable CI is true (as in CI): then a
missing browser fails the check.

Usage:
    .venv/bin/python tools/check_jupyterlab.py [--notebooks-dir DIR] [--notebook NAME]
        [--require-browser] [--run-timeout S] [--screenshot PNG]
    (defaults: notebooks/ and 00_welcome.ipynb)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT_S = 90
LOAD_TIMEOUT_S = 120  # the page, the notebook's cells and the kernel's first "idle"
INSTALL_HINT = "install with: apt-get install chromium chromium-driver"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # Chromium's sandbox does not start as root (containers, CI)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
# A traceback or an exception name on stderr is an error; warnings are not.
ERROR_TEXT = re.compile(r"Traceback|\w*Error\b")
TQDM_CALL = re.compile(r"\b(tqdm|trange)\s*\(")
VERDICT = re.compile(r"^Exercise \S+:", re.MULTILINE)
STDERR = "application/vnd.jupyter.stderr"

# What the open notebook shows, read in one go: the kernel's state, any dialog, and per cell
# its kind, prompt and outputs. textContent, not Selenium's visible text: JupyterLab skips
# painting cells outside the window, and they count too.
SNAPSHOT_JS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const dialog = document.querySelector('.jp-Dialog');
if (!panel) return {kernel: null, dialog: dialog && dialog.textContent, cells: null};
const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
const cells = Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).map(cell => ({
  kind: cell.classList.contains('jp-CodeCell') ? 'code'
      : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
  prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
  outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(out => ({
    mime: out.getAttribute('data-mime-type') || '',
    text: out.textContent,
    images: out.querySelectorAll('img').length,
    widget: out.querySelector('.jupyter-widgets') !== null,
    progress: out.querySelector('.widget-hprogress, .widget-vprogress') !== null,
  })),
}));
return {kernel: indicator && indicator.getAttribute('data-status'),
        dialog: dialog && dialog.textContent, cells: cells};
"""


class CheckFailed(Exception):
    """A check did not hold; the message says which."""


@dataclass(frozen=True)
class Browser:
    """Where the browser and its driver are: Debian's chromium and chromium-driver."""

    chromium: Path
    chromedriver: Path


# The tab of a document with unsaved changes carries JupyterLab's jp-mod-dirty class.
DIRTY_JS = "return document.querySelectorAll('.lm-TabBar-tab.jp-mod-dirty').length > 0;"


def load_course() -> ModuleType:
    """Import course.py (a script at the repository root) for its lab_command()."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_browser() -> Browser | str:
    """The system's Chromium, its driver and selenium; or why the browser check cannot run."""
    found = [shutil.which(name) for name in CHROMIUM_NAMES]
    chromium = next((path for path in found if path), None)
    chromedriver = shutil.which("chromedriver")
    if chromium is None:
        return f"chromium not found; {INSTALL_HINT}"
    if chromedriver is None:
        return f"chromedriver not found; {INSTALL_HINT}"
    if importlib.util.find_spec("selenium") is None:
        return (
            f"the selenium package is missing from {sys.executable}; "
            "install with: .venv/bin/python -m pip install -r requirements-dev.txt"
        )
    return Browser(Path(chromium), Path(chromedriver))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def isolated_environment(course: ModuleType, work: Path) -> dict[str, str]:
    """course.py's environment, with Jupyter's per-user folders moved into `work`."""
    env = course.course_environment()
    for variable, folder in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[variable] = str(work / folder)
    return env


def get(url: str, token: str) -> tuple[int, str]:
    """GET a URL with the token; returns (HTTP status, body)."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", errors="replace")


def get_json(url: str, token: str) -> Any:
    """GET a URL that must answer 200 with JSON."""
    status, body = get(url, token)
    if status != 200:
        raise CheckFailed(f"GET {url} answered {status}")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise CheckFailed(f"GET {url} did not return valid JSON: {error}") from error


def wait_until_serving(base: str, token: str, server: subprocess.Popen) -> None:
    """Poll /api/status until the server answers."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with status {server.returncode} on start")
        try:
            if get(f"{base}/api/status", token)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise CheckFailed(f"JupyterLab did not answer within {START_TIMEOUT_S} s")


def http_checks(base: str, token: str, name: str) -> dict[str, Any]:
    """Steps 1-2: the /lab page and the contents API; returns the served notebook."""
    status, page = get(f"{base}/lab", token)
    if status != 200 or "JupyterLab" not in page:
        raise CheckFailed(f"/lab answered {status} without 'JupyterLab' in the page")
    print("ok   /lab answers 200 with the JupyterLab page")
    listing = get_json(f"{base}/api/contents", token)
    if name not in {entry["name"] for entry in listing.get("content") or ()}:
        raise CheckFailed(f"the contents API does not list {name}")
    quoted = urllib.parse.quote(name)
    model = get_json(f"{base}/api/contents/{quoted}?content=1&type=notebook", token)
    notebook = model.get("content") or {}
    if model.get("type") != "notebook" or notebook.get("nbformat") != 4:
        raise CheckFailed(f"{name} is not served as an nbformat 4 notebook")
    print(f"ok   contents API serves {name} as a notebook ({len(notebook['cells'])} cells)")
    return notebook


def wait_for(
    what: str, timeout: float, probe: Callable[[], Any], alive: Callable[[], None]
) -> Any:
    """Call `probe` every half second until it returns something truthy; returns that.

    `alive` raises when waiting is pointless (the server died); a timeout fails with `what`.
    """
    deadline = time.monotonic() + timeout
    while True:
        alive()
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def start_browser(browser: Browser, profile: Path) -> WebDriver:
    """Headless Chromium through the system chromedriver (no Selenium Manager download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(browser.chromium)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(service=Service(str(browser.chromedriver)), options=options)


def click_menu(driver: WebDriver, menu: str, item: str) -> None:
    """Click a main-menu entry, then one of its items, by the labels a learner reads."""
    from selenium.webdriver.common.by import By

    entries = driver.find_elements(By.CSS_SELECTOR, "#jp-MainMenu .lm-MenuBar-item")
    entry = next((entry for entry in entries if entry.text.strip() == menu), None)
    if entry is None:
        raise CheckFailed(f"no menu {menu!r} in JupyterLab's menu bar")
    entry.click()
    # The open menu is the one whose labels have visible text.
    labels = driver.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-itemLabel")
    label = next((label for label in labels if label.text.strip() == item), None)
    if label is None:
        raise CheckFailed(f"no item {item!r} in the {menu} menu")
    label.click()


def code_cells(notebook: dict[str, Any]) -> list[tuple[int, str, list[str]]]:
    """(index, source, tags) of each code cell of a notebook in nbformat 4 JSON."""
    result = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            source = cell["source"]
            source = source if isinstance(source, str) else "".join(source)
            result.append((index, source, cell.get("metadata", {}).get("tags", [])))
    return result


def errors_shown(notebook: dict[str, Any], shown: list[dict[str, Any]]) -> list[str]:
    """The errors among the outputs shown, outside cells tagged raises-exception.

    An error is a traceback or an exception name on stderr (how JupyterLab shows an error
    output too), or a widget that could not be displayed. `shown` is SNAPSHOT_JS's cells,
    aligned with the notebook's.
    """
    problems = []
    for index, _, tags in code_cells(notebook):
        if "raises-exception" in tags:
            continue
        for output in shown[index]["outputs"]:
            text = output["text"]
            if (output["mime"] == STDERR and ERROR_TEXT.search(text)) or (
                "Error displaying widget" in text
            ):
                first = next((line for line in text.splitlines() if ERROR_TEXT.search(line)), "")
                problems.append(f"cell {index + 1} shows an error: {first.strip()[:200]}")
    return problems


def judge(notebook: dict[str, Any], shown: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """What the browser shows after Run All, against the notebook: (ok lines, problems).

    `shown` is SNAPSHOT_JS's list of cells. Cells are numbered from 1, as in JupyterLab's
    status bar ("Cell 3/30").
    """
    ok: list[str] = []
    problems: list[str] = []
    not_run = [index + 1 for index, source, _ in code_cells(notebook) if source.strip()]
    not_run = [number for number in not_run if not re.search(r"\d", shown[number - 1]["prompt"])]
    if not_run:
        problems.append(f"code cells {not_run} did not run (no execution count after Run All)")
    problems += errors_shown(notebook, shown)
    plots = [number for number, cell in enumerate(shown, 1) if any_output(cell, "images")]
    if plots:
        ok.append(f"ok   plot image rendered (cells {plots})")
    else:
        problems.append("no plot: no <img> in any output")
    verdicts = [
        line
        for cell in shown
        for output in cell["outputs"]
        for line in output["text"].splitlines()
        if VERDICT.match(line)
    ]
    if verdicts:
        first = verdicts[0].split(" — ")[0][:80]  # the verdict without its hint
        ok.append(f"ok   exercise verdicts shown ({len(verdicts)}), e.g. {first!r}")
    else:
        problems.append("no exercise verdict: no output line starts with 'Exercise N.M:'")
    tqdm_cells = [
        index + 1 for index, source, _ in code_cells(notebook) if TQDM_CALL.search(source)
    ]
    if not tqdm_cells:
        problems.append("no cell calls tqdm(...): nothing shows whether progress bars render")
    for number in tqdm_cells:
        bars = [out for out in shown[number - 1]["outputs"] if out["widget"] and out["progress"]]
        if bars:
            text = " ".join(bars[0]["text"].split())
            ok.append(f"ok   cell {number} shows a tqdm progress-bar widget: {text}")
        else:
            texts = [out["text"][:120] for out in shown[number - 1]["outputs"]]
            problems.append(f"cell {number} calls tqdm but shows no progress widget: {texts}")
    return ok, problems


def any_output(cell: dict[str, Any], key: str) -> bool:
    """Whether any output of a SNAPSHOT_JS cell has `key` set (e.g. "images")."""
    return any(output[key] for output in cell["outputs"])


def browser_check(
    driver: WebDriver,
    url: str,
    notebook: dict[str, Any],
    run_timeout: float,
    alive: Callable[[], None],
) -> None:
    """Step 3: open the notebook, clear and run it through the menus, judge the outputs."""
    started = time.monotonic()
    driver.get(url)

    def snapshot() -> dict[str, Any]:
        state = driver.execute_script(SNAPSHOT_JS)
        if state["dialog"]:  # e.g. "Select Kernel": a learner would be stuck here too
            raise CheckFailed(f"JupyterLab shows a dialog: {' '.join(state['dialog'].split())}")
        return state

    def loaded() -> bool:
        state = snapshot()
        return len(state["cells"] or ()) == len(notebook["cells"]) and state["kernel"] == "idle"

    wait_for("the notebook's cells and an idle kernel", LOAD_TIMEOUT_S, loaded, alive)
    print(f"ok   notebook open, kernel idle after {time.monotonic() - started:.1f} s")
    shown = snapshot()["cells"]
    kinds = [cell["kind"] for cell in shown]
    if kinds != [cell["cell_type"] for cell in notebook["cells"]]:
        raise CheckFailed(f"the page shows cells {kinds}, not the notebook's cells in order")
    problems = errors_shown(notebook, shown)
    if problems:  # what a learner sees on opening the notebook, before running anything
        raise CheckFailed("the notebook as opened:\n  " + "\n  ".join(problems))
    print("ok   the stored outputs, as opened, show no error")
    # The kernel's first reply fills in the notebook's language_info: a stored notebook missing
    # part of it is marked unsaved as soon as it opens, and a learner is asked to save it.
    time.sleep(1)
    if driver.execute_script(DIRTY_JS):
        raise CheckFailed(
            "opening the notebook marked it unsaved: its stored metadata is incomplete; "
            "rebuild it with python3 course.py notebooks"
        )
    print("ok   opening the notebook leaves it saved (complete metadata)")

    click_menu(driver, "Edit", "Clear Outputs of All Cells")
    # The stored outputs go first, so that what is judged below comes from this run.
    wait_for(
        "Clear Outputs of All Cells",
        10,
        lambda: not any(cell["outputs"] for cell in snapshot()["cells"]),
        alive,
    )
    click_menu(driver, "Run", "Run All Cells")
    started = time.monotonic()
    quiet: list[bool] = []

    def finished() -> list[dict[str, Any]] | None:
        """The cells once the kernel is idle, nothing is queued and something ran (twice)."""
        state = snapshot()
        prompts = [cell["prompt"] for cell in state["cells"]]
        quiet.append(
            state["kernel"] == "idle"
            and not any("*" in prompt for prompt in prompts)
            and any(re.search(r"\d", prompt) for prompt in prompts)
        )
        return state["cells"] if quiet[-2:] == [True, True] else None

    shown = wait_for("Run All to finish (kernel idle)", run_timeout, finished, alive)
    print(f"ok   Run All Cells finished, kernel idle after {time.monotonic() - started:.1f} s")
    ok, problems = judge(notebook, shown)
    for line in ok:
        print(line)
    if problems:
        raise CheckFailed("the notebook in the browser:\n  " + "\n  ".join(problems))


def stop(server: subprocess.Popen) -> None:
    """Stop the server (SIGTERM lets it shut its kernels down), killing it if it hangs."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def digest(path: Path) -> str:
    """sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=ROOT / "notebooks",
        metavar="DIR",
        help="the folder JupyterLab opens, as a temporary copy (default: notebooks/)",
    )
    parser.add_argument(
        "--notebook",
        default="00_welcome.ipynb",
        metavar="NAME",
        help="the notebook in it to run in the browser (default: 00_welcome.ipynb)",
    )
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    parser.add_argument(
        "--require-browser",
        action="store_true",
        default=in_ci,
        help="fail instead of skipping when no browser is found (default: when CI=true)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=300, metavar="S", help="seconds for Run All"
    )
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="save the page here on a failure"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Start JupyterLab, run the checks, stop everything; returns the exit status."""
    args = parse_args(argv)
    original = args.notebooks_dir.resolve() / args.notebook
    if not original.is_file():
        print(f"FAIL no notebook {original}", file=sys.stderr)
        return 1
    if importlib.util.find_spec("jupyterlab") is None:
        print(
            f"FAIL no JupyterLab in {sys.executable}; run this with .venv/bin/python",
            file=sys.stderr,
        )
        return 1
    browser = find_browser()
    if isinstance(browser, str) and args.require_browser:
        print(f"FAIL browser check required (CI) but {browser}", file=sys.stderr)
        return 1
    # SIGTERM (e.g. a CI timeout) becomes SystemExit, so the `finally`s below clean up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    course = load_course()
    before = digest(original)
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://{HOST}:{port}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="check_jupyterlab_") as tmp:
        work = Path(tmp)
        notebooks = work / "notebooks"
        shutil.copytree(
            args.notebooks_dir,
            notebooks,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        extra = ["--no-browser", f"--ip={HOST}", f"--port={port}", "--ServerApp.port_retries=0"]
        command = course.lab_command(
            sys.executable, [*extra, f"--IdentityProvider.token={token}"], notebooks=notebooks
        )
        shown_command = " ".join(command).replace(token, "***")
        print(f"starting JupyterLab as `course.py lab` does: {shown_command}", flush=True)
        log = (work / "jupyterlab.log").open("w+")
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=isolated_environment(course, work),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def alive() -> None:
            if server.poll() is not None:
                raise CheckFailed(f"JupyterLab exited with status {server.returncode}")

        driver = None
        try:
            wait_until_serving(base, token, server)
            print(f"ok   serving after {time.monotonic() - started:.1f} s on {base}")
            notebook = http_checks(base, token, args.notebook)
            if isinstance(browser, str):
                print(f"SKIPPED: browser check: {browser}")
            else:
                driver = start_browser(browser, work / "chromium-profile")
                print(f"ok   headless {browser.chromium} started through {browser.chromedriver}")
                url = f"{base}/lab/tree/{urllib.parse.quote(args.notebook)}?token={token}"
                browser_check(driver, url, notebook, args.run_timeout, alive)
        except CheckFailed as error:
            log.seek(0)
            print(f"FAIL {error}\n--- JupyterLab log ---\n{log.read()[-4000:]}", file=sys.stderr)
            if driver is not None:
                report_page(driver, args.screenshot)
            return 1
        finally:
            if driver is not None:
                driver.quit()
            stop(server)
            log.close()
            stopped = "JupyterLab and the browser" if driver is not None else "JupyterLab"
            print(f"{stopped} stopped ({time.monotonic() - started:.1f} s after the start)")
    if digest(original) != before:
        print(f"FAIL the check changed {original}", file=sys.stderr)
        return 1
    print(f"ok   {original} unchanged")
    print("JupyterLab check passed" + (" (browser check SKIPPED)" if driver is None else ""))
    return 0


def report_page(driver: WebDriver, screenshot: Path | None) -> None:
    """After a failure: the browser's console errors, and a screenshot when asked for."""
    try:
        for entry in driver.get_log("browser")[-10:]:
            print(f"browser console: {entry.get('message', '')[:300]}", file=sys.stderr)
        if screenshot is not None and driver.save_screenshot(str(screenshot)):
            print(f"screenshot of the page: {screenshot}", file=sys.stderr)
    except Exception as error:  # the page may be gone; the failure is already reported
        print(f"(could not read the page after the failure: {error})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

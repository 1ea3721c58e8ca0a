"""Check that JupyterLab serves the course: start it headless, probe it, stop it.

Starts `python -m jupyterlab` (this interpreter's, so run it with the course's .venv Python)
on 127.0.0.1 at a free port with a random token, rooted at the repository, then checks:
  1. /lab answers 200 with a page that says "JupyterLab";
  2. the contents API lists the expected notebooks under notebooks/;
  3. the first of them can be fetched as a valid nbformat 4 JSON notebook.
The server is always stopped, also on an error, Ctrl-C or SIGTERM. Standard library only.

Usage:
    .venv/bin/python tools/check_jupyterlab.py [NOTEBOOK ...]
    (default notebooks: 00_welcome.ipynb 01_preprocessing.ipynb)
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
NOTEBOOKS = ("00_welcome.ipynb", "01_preprocessing.ipynb")
START_TIMEOUT_S = 60


class CheckFailed(Exception):
    """A check on the running server did not hold; the message says which."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(port: int, token: str) -> list[str]:
    """The command line of a headless JupyterLab rooted at the repository."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ip={HOST}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to run as root without it
    return command


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


def wait_until_serving(base: str, token: str, server: subprocess.Popen) -> float:
    """Poll /api/status until the server answers; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S:
        if server.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with status {server.returncode} on start")
        try:
            if get(f"{base}/api/status", token)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise CheckFailed(f"JupyterLab did not answer within {START_TIMEOUT_S} s")


def run_checks(base: str, token: str, notebooks: tuple[str, ...]) -> None:
    """The checks on a running server; raises CheckFailed on the first that fails."""
    status, page = get(f"{base}/lab", token)
    if status != 200 or "JupyterLab" not in page:
        raise CheckFailed(f"/lab answered {status} without 'JupyterLab' in the page")
    print("ok   /lab answers 200 with the JupyterLab page")

    listing = get_json(f"{base}/api/contents/notebooks", token)
    names = {entry["name"] for entry in listing.get("content") or ()}
    missing = [name for name in notebooks if name not in names]
    if missing:
        raise CheckFailed(f"contents API does not list {missing} under notebooks/")
    print(f"ok   contents API lists {', '.join(notebooks)} under notebooks/")

    model = get_json(f"{base}/api/contents/notebooks/{notebooks[0]}?content=1", token)
    notebook = model.get("content") or {}
    if model.get("type") != "notebook" or notebook.get("nbformat") != 4:
        raise CheckFailed(f"notebooks/{notebooks[0]} is not served as an nbformat 4 notebook")
    cells = len(notebook.get("cells", ()))
    print(f"ok   notebooks/{notebooks[0]} fetched as a valid JSON notebook ({cells} cells)")


def stop(server: subprocess.Popen) -> None:
    """Stop the server (SIGTERM lets it shut down cleanly), killing it if it hangs."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(argv: list[str]) -> int:
    """Start JupyterLab, run the checks, stop it; returns the exit status."""
    notebooks = tuple(argv) or NOTEBOOKS
    # SIGTERM (e.g. a CI timeout) becomes SystemExit, so the `finally` below stops the server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        print(f"starting JupyterLab on {base} (root: {ROOT})", flush=True)
        server = subprocess.Popen(
            server_command(port, token),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            print(f"ok   serving after {wait_until_serving(base, token, server):.1f} s")
            run_checks(base, token, notebooks)
        except CheckFailed as error:
            log.seek(0)
            print(f"FAIL {error}\n--- JupyterLab log ---\n{log.read()[-4000:]}", file=sys.stderr)
            return 1
        finally:
            stop(server)
            print("JupyterLab stopped", flush=True)
    print("JupyterLab check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

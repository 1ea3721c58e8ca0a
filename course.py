"""Set up and run the course: `python3 course.py lab` or `python3 course.py test`.

Commands (extra arguments are passed on):
    lab        open the notebooks in JupyterLab (adds --allow-root when run as root)
    test       run the test suite: library tests and every notebook (pytest, nbval)
    notebooks  rebuild stored notebooks from notebooks/source (tools/build_notebooks.py)

Each command first sets up `.venv` in the repository: it creates the virtual environment if
missing and installs requirements.txt and the course library into it, skipping the install
when neither requirements.txt nor pyproject.toml changed since the last one. Standard library
only, so it runs with any Python 3.11+ on Linux, macOS and Windows.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

MIN_PYTHON = (3, 11)
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "course-install.sha256"  # hash of the files that decide what gets installed
INSTALL_INPUTS = ("requirements.txt", "pyproject.toml")
NOTEBOOKS = ROOT / "notebooks"
ALLOW_ROOT = "--allow-root"
# Spellings of JupyterLab's allow-root option: a user who passes one decides for themselves.
ALLOW_ROOT_OPTIONS = (ALLOW_ROOT, "--allow_root", "--ServerApp.allow_root")


def say(message: str) -> None:
    """Print one progress line."""
    print(f"[course] {message}", flush=True)


def fail(message: str) -> None:
    """Stop with a message and exit status 1."""
    print(f"[course] error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check_python(version: tuple[int, ...] = tuple(sys.version_info)) -> None:
    """Refuse Pythons older than MIN_PYTHON with a clear message."""
    if version[:2] < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        found = ".".join(map(str, version[:3]))
        fail(
            f"the course needs Python {wanted} or newer; this is Python {found}. Install a "
            f"newer Python and run this script with it (e.g. python{wanted} course.py lab)."
        )


def venv_python(venv: Path = VENV) -> Path:
    """The interpreter inside a virtual environment, on Windows or elsewhere."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def install_hash(root: Path = ROOT) -> str:
    """sha256 over the files that decide what gets installed."""
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def is_up_to_date(stamp: Path, current_hash: str) -> bool:
    """True when the last successful install was made from the same files."""
    return stamp.exists() and stamp.read_text(encoding="utf-8").strip() == current_hash


def create_venv(venv: Path = VENV) -> None:
    """Create the virtual environment, explaining the usual reason when that fails."""
    say(f"creating the virtual environment {venv.name}/")
    if importlib.util.find_spec("ensurepip") is None:
        fail(venv_missing_message())
    if subprocess.call([sys.executable, "-m", "venv", str(venv)]) != 0:
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv would be taken as ready
        fail(venv_missing_message())


def venv_missing_message() -> str:
    """What to do when Python cannot create a virtual environment."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        "Python could not create a virtual environment (its `venv`/`ensurepip` part is "
        f"missing). On Debian or Ubuntu install it with: sudo apt install python{version}-venv "
        "(or python3-venv), then run this command again."
    )


def set_up() -> Path:
    """Make `.venv` ready (create, install, or nothing to do); returns its Python."""
    python = venv_python()
    if not VENV.exists():
        create_venv()
    elif not python.exists():
        fail(
            f"{VENV} exists but has no Python at {python} (was Python moved or upgraded?). "
            "Delete the .venv folder and run this command again."
        )
    current = install_hash()
    if is_up_to_date(STAMP, current):
        say("environment up to date (.venv)")
        return python
    say("installing requirements into .venv (several minutes the first time)")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    for step in (["-r", "requirements.txt"], ["--no-deps", "-e", "."]):
        if run([*pip, *step]) != 0:
            fail(f"`pip install {' '.join(step)}` failed; see pip's message above.")
    STAMP.write_text(current + "\n", encoding="utf-8")
    say("environment ready")
    return python


def course_environment() -> dict[str, str]:
    """The environment for tests, notebook builds and JupyterLab (its kernels inherit it)."""
    env = dict(os.environ)
    # PyTorch's OpenMP threads busy-wait by default: on a shared 2-core CPU a notebook runs
    # ~7x slower. MPLBACKEND is deliberately not set: kernels would inherit it and lose
    # inline figures.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def running_as_root() -> bool:
    """True when this process runs as root (never on Windows, which has no euid)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def needs_allow_root(args: Sequence[str], as_root: bool | None = None) -> bool:
    """True when `course.py lab` must add --allow-root to `args`.

    JupyterLab refuses to start as root (containers, cloud notebooks) without it; it is
    added when running as root (`as_root`; None: find out) and `args` hold no allow-root
    option of the user's own.
    """
    if as_root is None:
        as_root = running_as_root()
    return as_root and not any(arg.split("=", 1)[0] in ALLOW_ROOT_OPTIONS for arg in args)


def lab_command(
    python: Path | str,
    args: Sequence[str] = (),
    notebooks: Path = NOTEBOOKS,
    as_root: bool | None = None,
) -> list[str]:
    """The command `course.py lab` runs: JupyterLab on the notebooks folder with `args`.

    Adds --allow-root where `needs_allow_root` says so. tools/check_jupyterlab.py starts its
    server with this function too, so CI runs JupyterLab the way a learner does.
    """
    command = [str(python), "-m", "jupyterlab", str(notebooks), *args]
    if needs_allow_root(args, as_root):
        command.append(ALLOW_ROOT)
    return command


def run(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command in the repository root and return its exit status.

    Ctrl-C reaches the child too (same terminal), which decides how to stop (JupyterLab
    asks for confirmation, pytest prints its summary); this process just waits for it.
    """
    with subprocess.Popen(command, cwd=ROOT, env=env) as process:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue


def main(argv: list[str]) -> int:
    """Dispatch a command; returns the exit status."""
    check_python()
    commands = {
        "lab": [],  # built by lab_command() below
        "test": ["-m", "pytest"],
        "notebooks": [str(ROOT / "tools" / "build_notebooks.py")],
    }
    if not argv or argv[0] not in commands:
        asked_for_help = bool(argv) and argv[0] in ("-h", "--help")
        if argv and not asked_for_help:
            print(f"unknown command {argv[0]!r}\n")
        print(__doc__)
        return 0 if asked_for_help else 2
    python = set_up()
    if argv[0] == "lab":
        if needs_allow_root(argv[1:]):
            say(f"running as root: adding {ALLOW_ROOT}, without which JupyterLab will not start")
        command = lab_command(python, argv[1:])
    else:
        command = [str(python), *commands[argv[0]], *argv[1:]]
    say("running " + " ".join(command))
    return run(command, env=course_environment())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

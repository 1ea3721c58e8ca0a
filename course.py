"""Set up and run the course: `python3 course.py lab` or `python3 course.py test`.

Commands (extra arguments are passed on):
    lab        open the notebooks in JupyterLab (adds --allow-root when run as root)
    test       run the test suite: library tests and every notebook (pytest, nbval)
    notebooks  rebuild stored notebooks from notebooks/source (tools/build_notebooks.py)
    setup      only set up .venv (to prepare a machine before a workshop)

For workshop instructors:
    pack [DIR]                    the learner pack: notebooks without solutions, the library,
                                  the data; no tests or tools. The folder DIR (default
                                  dist/course-pack) and DIR.zip
    wheelhouse DIR [pip options]  download every wheel the course needs into DIR, for installs
                                  with no internet; the options go to `pip download` (learners
                                  on another platform: --platform win_amd64 --python-version 3.12)

lab, test, notebooks and setup first set up `.venv` in this folder: they create the virtual
environment if missing and install requirements.txt and the course library into it, skipping
the install when neither requirements.txt nor pyproject.toml changed since the last one. With
`--wheelhouse DIR` (or the environment variable COURSE_WHEELHOUSE=DIR) they install from that
wheelhouse alone, with no internet. Standard library only, so it runs with any Python 3.11+ on
Linux, macOS and Windows.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Mapping, Sequence
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
WHEELHOUSE_OPTION, WHEELHOUSE_VARIABLE = "--wheelhouse", "COURSE_WHEELHOUSE"
# pip's last words when the wheelhouse lacks a package, e.g. "... found for numpy==2.4.6".
MISSING_WHEEL = re.compile(r"No matching distribution found for (\S+)")
# What these commands need beyond what the learner pack holds.
NEEDED = {"test": ("tests/",), "notebooks": ("notebooks/source/", "tools/")}

# The learner pack: these files and folders, and the learner notebooks notebooks/*.ipynb.
PACK_ITEMS = (
    *("README.md", "LICENSE", "course.py", "requirements.txt", "pyproject.toml"),
    *("course_lib", "datasets", "configs", "docs"),
)
# Files under PACK_ITEMS that stay out: the instructor kit says what a good answer shows.
PACK_EXCLUDED = frozenset({"docs/instructor.md"})
PACK_LEFT_OUT = ", ".join(
    [
        *("notebooks/solutions/", "notebooks/source/", "tests/", "tools/", "benchmarks/"),
        *(".ci/", "CONTRIBUTING.md", *sorted(PACK_EXCLUDED)),
    ]
)
PACK_NOTE = "PACK.md"  # in the pack only: what it is, where from, how to start
DEFAULT_PACK = ROOT / "dist" / "course-pack"
CLUTTER = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".DS_Store"})
# What gives a solution away in a notebook (tools/build_notebooks.py's markers).
BEGIN_SOLUTION, SOLUTION_TAG = "### BEGIN SOLUTION", "solution"


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


def wheelhouse_option(
    args: Sequence[str], environ: Mapping[str, str] = os.environ
) -> tuple[list[str], Path | None]:
    """Take `--wheelhouse DIR` (or `--wheelhouse=DIR`) out of a command's arguments.

    Args:
        args: The arguments after the command name.
        environ: The environment, read for COURSE_WHEELHOUSE.

    Returns:
        The other arguments, in order, and the wheelhouse: the option's folder, else
        COURSE_WHEELHOUSE's, else None. Relative paths are taken from the current folder.
    """
    rest: list[str] = []
    chosen = environ.get(WHEELHOUSE_VARIABLE) or None
    words = iter(args)
    for arg in words:
        if arg == WHEELHOUSE_OPTION or arg.startswith(WHEELHOUSE_OPTION + "="):
            value = arg.partition("=")[2] if "=" in arg else next(words, "")
            if not value or value.startswith("-"):
                fail("--wheelhouse needs a folder: python3 course.py lab --wheelhouse DIR")
            chosen = value
        else:
            rest.append(arg)
    return rest, Path(chosen).expanduser().resolve() if chosen else None


def check_wheelhouse(wheelhouse: Path) -> None:
    """Stop early when the wheelhouse is not a folder of wheels."""
    if wheelhouse.is_dir() and any(wheelhouse.glob("*.whl")):
        return
    problem = "holds no wheels (*.whl)" if wheelhouse.is_dir() else "is not a folder"
    fail(
        f"the wheelhouse {wheelhouse} {problem}. Make one on a machine with internet with "
        "`python3 course.py wheelhouse DIR`, copy DIR here and run "
        "`python3 course.py lab --wheelhouse DIR`."
    )


def install_commands(python: Path | str, wheelhouse: Path | None = None) -> list[list[str]]:
    """The pip commands set_up runs: requirements.txt, then the course library (editable).

    With a wheelhouse pip looks nowhere else (--no-index --find-links); it then takes the
    library's build requirements (pyproject's [build-system]) from the wheelhouse too.
    """
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if wheelhouse is not None:
        pip += ["--no-index", "--find-links", str(wheelhouse)]
    return [[*pip, "-r", "requirements.txt"], [*pip, "--no-deps", "-e", "."]]


def offline_failure_message(command: Sequence[str], output: str, wheelhouse: Path) -> str:
    """What to do when pip could not install from a wheelhouse, naming the missing package."""
    missing = MISSING_WHEEL.findall(output)
    if not missing:
        return (
            f"`{' '.join(command[2:])}` failed with the wheelhouse {wheelhouse}; see pip's "
            "message above."
        )
    here = f"Python {sys.version_info.major}.{sys.version_info.minor}, {sysconfig.get_platform()}"
    return (
        f"the wheelhouse {wheelhouse} has no wheel of {missing[0]} for this machine ({here}). "
        "On a machine with internet run `python3 course.py wheelhouse DIR` (adding pip's "
        "`--platform` and `--python-version` options when its platform or Python differ from "
        "this one's, e.g. --platform win_amd64 --python-version 3.12), copy DIR here and run "
        "this command again with --wheelhouse DIR; or drop --wheelhouse and COURSE_WHEELHOUSE "
        "to install from the internet."
    )


def install(command: list[str], wheelhouse: Path | None) -> None:
    """Run one pip install command; stop with what to do when it fails."""
    if wheelhouse is None:
        if run(command) != 0:
            fail(f"`{' '.join(command[2:])}` failed; see pip's message above.")
        return
    status, output = run_logged(command)
    if status != 0:
        fail(offline_failure_message(command, output, wheelhouse))


def set_up(wheelhouse: Path | None = None) -> Path:
    """Make `.venv` ready (create, install, or nothing to do); returns its Python.

    With a wheelhouse, pip installs from it alone. The install stamp does not record where the
    wheels came from: the same requirements give the same environment either way, so giving
    or dropping --wheelhouse never forces a reinstall.
    """
    python = venv_python(VENV)
    if VENV.exists() and not python.exists():
        fail(
            f"{VENV} exists but has no Python at {python} (was Python moved or upgraded?). "
            "Delete the .venv folder and run this command again."
        )
    current = install_hash()
    if python.exists() and is_up_to_date(STAMP, current):
        say("environment up to date (.venv)" + ("; no wheelhouse needed" if wheelhouse else ""))
        return python
    if wheelhouse is not None:
        check_wheelhouse(wheelhouse)
    if not VENV.exists():
        create_venv(VENV)
    if wheelhouse is None:
        say("installing requirements into .venv (several minutes the first time)")
    else:
        say(f"installing requirements into .venv from the wheelhouse {wheelhouse}, offline")
    for command in install_commands(python, wheelhouse):
        install(command, wheelhouse)
    STAMP.write_text(current + "\n", encoding="utf-8")
    say("environment ready")
    return python


def check_needed_files(command: str, root: Path = ROOT) -> None:
    """Stop with a clear message when `command` needs files this copy of the course lacks."""
    missing = [name for name in NEEDED.get(command, ()) if not (root / name).exists()]
    if not missing:
        return
    if (root / PACK_NOTE).is_file():
        fail(
            f"this is a learner pack (see {PACK_NOTE}): it leaves out {', '.join(missing)}, so "
            f"`course.py {command}` runs only in the full course repository. Here, work "
            "through the notebooks with `python3 course.py lab`."
        )
    fail(
        f"`course.py {command}` needs {', '.join(missing)}, missing from {root}; restore it "
        f"from the course repository (e.g. `git checkout -- {missing[0]}`)."
    )


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


def run_logged(command: list[str]) -> tuple[int, str]:
    """Like run(), and also return what the command printed (stdout and stderr together)."""
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        while True:
            try:
                for line in process.stdout:
                    print(line, end="", flush=True)
                    lines.append(line)
                return process.wait(), "".join(lines)
            except KeyboardInterrupt:
                continue


def size_text(size: int) -> str:
    """A size in bytes for people: `12.3 MB`."""
    return f"{size / 1e6:.1f} MB"


# --- the learner pack -------------------------------------------------------------------------


def is_clutter(path: Path) -> bool:
    """True for caches and build leftovers, which no pack holds."""
    return path.suffix in (".pyc", ".pyo") or any(
        part in CLUTTER or part.endswith(".egg-info") for part in path.parts
    )


def pack_files(root: Path = ROOT) -> list[Path]:
    """The files of the learner pack, relative to `root`, sorted."""
    files: list[Path] = []
    for item in PACK_ITEMS:
        path = root / item
        if not path.exists():
            fail(f"the learner pack needs {item}, which is missing from {root}.")
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files += [p.relative_to(root) for p in found]
    notebooks = [p.relative_to(root) for p in (root / "notebooks").glob("*.ipynb")]
    if not notebooks:
        fail(f"no learner notebooks (notebooks/*.ipynb) in {root}: nothing to pack.")
    kept = [p for p in [*files, *notebooks] if p.as_posix() not in PACK_EXCLUDED]
    return sorted(p for p in kept if not is_clutter(p))


def cell_text(cell: Mapping) -> str:
    """A notebook cell's source as one string (stored as a string or a list of lines)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def cell_tags(cell: Mapping) -> list[str]:
    """A notebook cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def solution_problems(notebook: Path, solution: Path) -> list[str]:
    """What in a learner notebook gives a solution away; empty when nothing does.

    Args:
        notebook: A learner notebook.
        solution: Its solution version (notebooks/solutions/NAME), which may not exist.
    """
    text = notebook.read_text(encoding="utf-8")
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError):
        return ["is not a notebook (no cells in its JSON)"]
    marked = [n for n, cell in enumerate(cells, 1) if BEGIN_SOLUTION in cell_text(cell)]
    tagged = [n for n, cell in enumerate(cells, 1) if SOLUTION_TAG in cell_tags(cell)]
    problems = []
    if marked or BEGIN_SOLUTION in text:
        where = f"cells {marked}" if marked else "in an output"
        problems.append(f"holds `{BEGIN_SOLUTION}` ({where})")
    if tagged:
        problems.append(f"has cells tagged {SOLUTION_TAG!r} (cells {tagged})")
    if solution.is_file() and solution.read_bytes() == notebook.read_bytes():
        problems.append(
            f"is a copy of its solution version {solution.parent.name}/{solution.name}"
        )
    return problems


def check_no_solutions(files: Sequence[Path], root: Path = ROOT) -> None:
    """Refuse to pack when a notebook among `files` (relative to `root`) gives a solution away."""
    found = [
        f"{file.as_posix()} {problem}"
        for file in files
        if file.suffix == ".ipynb"
        for problem in solution_problems(root / file, root / "notebooks" / "solutions" / file.name)
    ]
    if found:
        fail(
            "not packing: learner notebooks must hold no solutions, but\n  "
            + "\n  ".join(found)
            + "\nRebuild them from notebooks/source with `python3 course.py notebooks` (or "
            "restore the committed ones with `git checkout -- notebooks`), then pack again."
        )


def check_destination(dest: Path, root: Path = ROOT) -> None:
    """Refuse a pack folder that is part of the course or holds something other than a pack."""
    packed = [root / item for item in (*PACK_ITEMS, "notebooks")]
    if root.is_relative_to(dest) or any(dest.is_relative_to(path) for path in packed):
        fail(f"cannot pack into {dest}, a part of the course; choose another folder.")
    reusable = dest.is_dir() and ((dest / PACK_NOTE).is_file() or not any(dest.iterdir()))
    if dest.exists() and not reusable:
        fail(
            f"{dest} exists and is not an earlier learner pack (it has no {PACK_NOTE}); "
            "choose a new or empty folder."
        )


def git_output(root: Path, *args: str) -> str:
    """What `git ARGS` prints in `root` (OSError without git, CalledProcessError on failure)."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def source_commit(root: Path = ROOT) -> str:
    """The commit a pack is made from, or "unknown" outside a git clone or without git.

    The short hash, noting uncommitted changes to the packed files.
    """
    if not (root / ".git").exists():
        return "unknown"
    try:
        head = git_output(root, "rev-parse", "--short", "HEAD")
        changes = git_output(
            root, "status", "--porcelain", *PACK_ITEMS, ":(glob)notebooks/*.ipynb"
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}, with uncommitted changes" if changes else head


def pack_note(commit: str) -> str:
    """The text of PACK.md: what the pack is, where it comes from, how to start."""
    return f"""# Learner pack

A learner pack of the course: the notebooks with their exercises still to do (without the
solutions), the `course_lib` library and the bundled data. README.md describes the whole
course. Made with `python3 course.py pack` from the course repository at commit
{commit}.

## Start

You need Python 3.11 or newer. In this folder run

    python3 course.py lab

(on Windows `py course.py lab`). It sets up `.venv` and opens JupyterLab; start with
`notebooks/00_welcome.ipynb`. In a workshop without internet your instructor hands out a
wheelhouse folder; then run `python3 course.py lab --wheelhouse FOLDER`.

## Not in this pack

These parts of the course repository are left out:
{PACK_LEFT_OUT}.
So `python3 course.py test` and `python3 course.py notebooks` do not run here.
"""


def pack(dest: Path, root: Path = ROOT, commit: str | None = None) -> Path:
    """Write the learner pack: the folder `dest` and `dest`.zip beside it; returns the zip.

    Everything is checked before anything is written: no notebook may give a solution away,
    and `dest` may only be new, empty or an earlier pack (which is replaced). `commit` is
    the one PACK.md names (None: source_commit(root)).
    """
    files = pack_files(root)
    check_no_solutions(files, root)
    check_destination(dest, root)
    shutil.rmtree(dest, ignore_errors=True)
    for file in files:
        (dest / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / file, dest / file)
    (dest / PACK_NOTE).write_text(pack_note(commit or source_commit(root)), encoding="utf-8")
    archive = dest.parent / f"{dest.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in sorted([*files, Path(PACK_NOTE)]):
            zipped.write(dest / file, (Path(dest.name) / file).as_posix())
    return archive


def make_pack(args: Sequence[str]) -> int:
    """`course.py pack [DIR]`: write the learner pack and say what went in."""
    if len(args) > 1 or (args and args[0].startswith("-")):
        fail("usage: python3 course.py pack [DIR]  (default DIR: dist/course-pack)")
    dest = Path(args[0]).expanduser().resolve() if args else DEFAULT_PACK
    commit = source_commit(ROOT)
    archive = pack(dest, ROOT, commit)
    files = [path for path in dest.rglob("*") if path.is_file()]
    size = size_text(sum(path.stat().st_size for path in files))
    say(f"learner pack of commit {commit}: {len(files)} files, {size}, in {dest}")
    say(f"the same as one zip for learners: {archive} ({size_text(archive.stat().st_size)})")
    say(f"left out: {PACK_LEFT_OUT}")
    return 0


# --- the classroom wheelhouse -----------------------------------------------------------------


def build_requirements(root: Path = ROOT) -> list[str]:
    """What pip needs to build the course library: pyproject.toml's [build-system] requires."""
    import tomllib  # not at the top: Python 3.10 has none, and check_python() must speak first

    with (root / "pyproject.toml").open("rb") as file:
        build_system = tomllib.load(file).get("build-system", {})
    return list(build_system.get("requires", ["setuptools>=40.8.0", "wheel"]))  # PEP 517's


def download_command(
    python: Path | str, dest: Path, options: Sequence[str] = (), root: Path = ROOT
) -> list[str]:
    """The `pip download` command of `course.py wheelhouse`.

    Wheels only (--only-binary=:all:, which pip also needs with --platform): a source
    package would need a compiler and its own build requirements on the learner's machine.
    `options` come last, so a user's own --only-binary or --no-binary wins.
    """
    return [
        *(str(python), "-m", "pip", "download", "--disable-pip-version-check"),
        *("--only-binary=:all:", "--dest", str(dest)),
        *("-r", str(root / "requirements.txt"), *build_requirements(root)),
        *options,
    ]


def pip_python() -> Path | str:
    """A Python with pip to download with: this one, else .venv's (created if need be)."""
    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    if not venv_python(VENV).exists():
        create_venv(VENV)
    say("this Python has no pip: downloading with the pip of .venv")
    return venv_python(VENV)


def make_wheelhouse(args: Sequence[str]) -> int:
    """`course.py wheelhouse DIR [pip download options]`: every wheel the course needs."""
    if not args or args[0].startswith("-"):
        fail(
            "usage: python3 course.py wheelhouse DIR [pip download options], e.g. for "
            "learners on Windows: python3 course.py wheelhouse DIR --platform win_amd64 "
            "--python-version 3.12"
        )
    dest = Path(args[0]).expanduser().resolve()
    command = download_command(pip_python(), dest, args[1:])
    say("running " + " ".join(command))
    if run(command) != 0:
        fail(
            "`pip download` failed; see pip's message above. It needs internet (or a package "
            "index), and pip's options must fit: for another platform give both --platform "
            "and --python-version."
        )
    wheels = list(dest.glob("*.whl"))
    size = size_text(sum(path.stat().st_size for path in wheels))
    say(f"wheelhouse: {len(wheels)} wheels, {size}, in {dest}")
    say(
        "copy it to the learners' machines; there, `python3 course.py lab --wheelhouse DIR` "
        "(or COURSE_WHEELHOUSE=DIR) installs from it with no internet"
    )
    return 0


def main(argv: list[str]) -> int:
    """Dispatch a command; returns the exit status."""
    check_python()
    commands = {
        "lab": [],  # built by lab_command() below
        "test": ["-m", "pytest"],
        "notebooks": [str(ROOT / "tools" / "build_notebooks.py")],
        "setup": [],  # set_up() is all
    }
    instructor_commands = {"pack": make_pack, "wheelhouse": make_wheelhouse}
    if not argv or argv[0] not in (*commands, *instructor_commands):
        asked_for_help = bool(argv) and argv[0] in ("-h", "--help")
        if argv and not asked_for_help:
            print(f"unknown command {argv[0]!r}\n")
        print(__doc__)
        return 0 if asked_for_help else 2
    name = argv[0]
    if name in instructor_commands:
        return instructor_commands[name](argv[1:])
    args, wheelhouse = wheelhouse_option(argv[1:])
    check_needed_files(name, ROOT)
    if name == "setup" and args:
        fail(f"`course.py setup` takes only --wheelhouse DIR, not {' '.join(args)}")
    python = set_up(wheelhouse)
    if name == "setup":
        return 0
    if name == "lab":
        if needs_allow_root(args):
            say(f"running as root: adding {ALLOW_ROOT}, without which JupyterLab will not start")
        command = lab_command(python, args)
    else:
        command = [str(python), *commands[name], *args]
    say("running " + " ".join(command))
    return run(command, env=course_environment())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

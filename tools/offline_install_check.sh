#!/usr/bin/env bash
# A workshop with no internet, end to end: build the classroom wheelhouse, make the learner
# pack, then set the pack up from the wheelhouse alone and import what the notebooks need.
# pip gets no index and no configuration (no pip.conf, no PIP_* variables), so a wheel missing
# from the wheelhouse fails here. Also checks that a later run with another wheelhouse path
# installs nothing, and that a wheelhouse lacking a wheel is refused with the package's name.
#
# Usage: tools/offline_install_check.sh   (about 1.5 GB in a temporary folder, removed after)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# -qq: errors only (a package index's warnings would fill the log)
python3 course.py wheelhouse "$work/wheelhouse" -qq
echo "wheelhouse: $(find "$work/wheelhouse" -name '*.whl' | wc -l) wheels," \
    "$(du -sh "$work/wheelhouse" | cut -f1), in $((SECONDS - started)) s"
python3 course.py pack "$work/pack"
cp -r "$work/pack" "$work/pack-without-a-wheel"

# Runs course.py in a pack with pip cut off from everything but the wheelhouse it is given.
offline() {
    local pack=$1
    shift
    (
        cd "$pack"
        for name in $(compgen -e | grep '^PIP_' || true); do unset "$name"; done
        export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
        python3 course.py "$@"
    )
}

installed=$SECONDS
offline "$work/pack" setup --wheelhouse "$work/wheelhouse"
(
    cd "$work/pack"
    .venv/bin/python -m pip check
    .venv/bin/python -c "
import pathlib
import course_lib, jupyterlab, nbval, opacus, torch
assert pathlib.Path(course_lib.__file__).is_relative_to(pathlib.Path.cwd()), course_lib.__file__
print('offline install imports torch', torch.__version__, 'and course_lib from the pack')"
)
echo "offline install took $((SECONDS - installed)) s"

# The install stamp ignores where wheels come from: another wheelhouse path installs nothing.
offline "$work/pack" setup --wheelhouse "$work/elsewhere" | tee "$work/again.log"
grep -q "environment up to date" "$work/again.log"

# A wheelhouse without tqdm's wheel: refused, naming tqdm and the command that fixes it.
cp -al "$work/wheelhouse" "$work/wheelhouse-without-tqdm"
rm "$work"/wheelhouse-without-tqdm/tqdm-*.whl
if offline "$work/pack-without-a-wheel" setup --wheelhouse "$work/wheelhouse-without-tqdm" \
    >"$work/missing.log" 2>&1; then
    echo "an install from a wheelhouse without tqdm succeeded" >&2
    exit 1
fi
grep "error:" "$work/missing.log"
grep -q "has no wheel of tqdm==.*python3 course.py wheelhouse DIR" "$work/missing.log"

echo "offline install check passed in $((SECONDS - started)) s"

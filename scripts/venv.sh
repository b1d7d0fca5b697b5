# Creates <repo>/.venv and installs the Python packages Tollgate's tests and scripts need.
# Source it, then call `tollgate_venv`; it sets TOLLGATE_PYTHON (the venv's interpreter).
#
# Requirement files: scripts/requirements*.txt, <top-level dir>/requirements.txt and
# e2e/<dir>/requirements.txt (e2e/emulator/, e2e/chart/, ...). Adding a file there is enough;
# nothing else needs to change. Idempotent and quick when nothing changed: a stamp in the venv
# records a hash of every requirement file.
# TOLLGATE_PYTHON_BOOTSTRAP picks the interpreter that creates the venv (default python3).

tollgate_venv() {
    local root venv py stamp files f want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    venv="$root/.venv"
    py="$venv/bin/python"
    stamp="$venv/.tollgate-requirements.sha256"

    if [ ! -x "$py" ]; then
        echo "venv: creating $venv" >&2
        "${TOLLGATE_PYTHON_BOOTSTRAP:-python3}" -m venv "$venv" || {
            echo "venv: '${TOLLGATE_PYTHON_BOOTSTRAP:-python3} -m venv' failed (on Debian: apt-get install python3-venv)" >&2
            return 1
        }
    fi

    files=()
    for f in "$root"/scripts/requirements*.txt "$root"/*/requirements.txt \
        "$root"/e2e/*/requirements.txt; do
        [ -f "$f" ] && files+=("$f")
    done
    want="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        TOLLGATE_PYTHON="$py"
        export TOLLGATE_PYTHON
        return 0
    fi

    echo "venv: installing ${files[*]#"$root/"}" >&2
    local args=()
    for f in "${files[@]}"; do args+=(-r "$f"); done
    "$py" -m pip install --quiet --disable-pip-version-check "${args[@]}" || {
        echo "venv: pip install failed" >&2
        return 1
    }
    echo "$want" >"$stamp"
    TOLLGATE_PYTHON="$py"
    export TOLLGATE_PYTHON
}

#!/bin/sh
# Print the path of a Python X.Y interpreter (e.g. `sh scripts/find-python.sh 3.12`): pythonX.Y on
# PATH, else the newest pyenv X.Y.* (under PYENV_ROOT or ~/.pyenv, then /root/.pyenv).
# Fails, saying what to install, when there is none.
set -u

version="${1:?usage: find-python.sh X.Y}"
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
pyenv_versions=$(for root in "$pyenv_root" /root/.pyenv; do
                     ls -d "$root"/versions/"$version".*/bin/"python$version" 2>/dev/null
                 done | sort -V -r)

for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
                 $pyenv_versions; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    # the interpreter really is X.Y and can make a virtualenv (Debian splits venv into pythonX.Y-venv)
    if "$candidate" -c "import sys, ensurepip, venv; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
        echo "$candidate"
        exit 0
    fi
done

echo "find-python: no Python $version interpreter that can make a virtualenv: looked for" \
     "python$version on PATH and under $pyenv_root/versions/$version.* and /root/.pyenv/versions/$version.*." \
     "Install it (apt install python$version python$version-venv, or pyenv install $version)." >&2
exit 1

#!/usr/bin/env sh
# Print the path of the best Python interpreter for the venv: 3.12 preferred (JAX >= 0.11
# needs it), then any other >= 3.11. pyenv shims that exist but cannot run are skipped.
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }
for candidate in python3.12 $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null) \
                 python3.13 python3.11 python3; do
    if ok "$candidate"; then command -v "$candidate" || echo "$candidate"; exit 0; fi
done
echo "error: no Python >= 3.11 found; install python3.12" >&2
exit 1

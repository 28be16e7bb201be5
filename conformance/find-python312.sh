#!/bin/sh
# Print the path of a working Python 3.12 for the validator's virtual environment, or fail saying
# how to provide one. focus-validator 2.x needs Python >= 3.12 and pins numpy<2, whose last
# release (1.26) has no wheels past 3.12: so exactly 3.12. PYTHON312=/path/to/python3.12 wins.
is312() {
    [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1
}
if [ -n "${PYTHON312:-}" ]; then
    if is312 "$PYTHON312"; then echo "$PYTHON312"; exit 0; fi
    echo "PYTHON312=$PYTHON312 is not a working Python 3.12" >&2
    exit 1
fi
# on PATH (a pyenv shim may exist and still fail: each candidate is run, not just found)
for name in python3.12 python3; do
    found=$(command -v "$name" 2>/dev/null) && is312 "$found" && { echo "$found"; exit 0; }
done
# usual install places, the newest 3.12 patch release last
for found in "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 \
             /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/homebrew/bin/python3.12; do
    is312 "$found" && best=$found
done
if [ -n "${best:-}" ]; then echo "$best"; exit 0; fi
echo "No working Python 3.12 found (looked for PYTHON312, python3.12 and python3 on PATH, ~/.pyenv/versions/3.12*," \
     "/usr/local/bin, /usr/bin, /opt/homebrew/bin). The FOCUS validator (focus-validator 2.x) needs Python 3.12:" \
     "install it, or run make with PYTHON312=/path/to/python3.12." >&2
exit 1

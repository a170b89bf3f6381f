#!/usr/bin/env bash
# Create .venv from Debian's system Python (the one its GNU Radio is built for) with
# --system-site-packages, and install gr-cfisac into it. Idempotent: a second run only
# checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_PY=${CFISAC_SYSTEM_PYTHON:-/usr/bin/python3}
VENV=.venv
STAMP=$VENV/.cfisac-installed

have_gnuradio() {
  [ -x "$SYS_PY" ] && "$SYS_PY" -c "import gnuradio.gr, venv, ensurepip" >/dev/null 2>&1
}

if ! have_gnuradio; then
  PKGS="gnuradio python3-venv python3-pip"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing Debian packages: $PKGS"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $PKGS >/dev/null
  else
    echo "GNU Radio (Debian's 'gnuradio' package) and python3-venv are needed. Run:" >&2
    echo "    sudo apt-get install -y $PKGS" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating $VENV from $SYS_PY (with system site-packages for GNU Radio)"
  "$SYS_PY" -m venv --system-site-packages "$VENV"
fi

# Reinstall only when the project's metadata changed since the last install.
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
  echo ">> installing gr-cfisac (editable) with [dev,train] into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c constraints.txt -e ".[dev,train]" --config-settings editable_mode=compat
  touch "$STAMP"
fi
"$VENV/bin/python" -c "import gnuradio.gr, numpy, gr_cfisac; assert numpy.__version__ < '2'" \
  || { echo "the venv is broken: remove .venv and run again" >&2; exit 1; }

#!/usr/bin/env bash
# Create .venv from Debian's system Python (the one its GNU Radio is built for) with
# --system-site-packages, and install gr-cfisac into it. Idempotent: a second run only
# checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_PY=${CFISAC_SYSTEM_PYTHON:-/usr/bin/python3}
VENV=.venv
STAMP=$VENV/.cfisac-installed
# Debian packages: GNU Radio and venv; GNU Radio Companion's GTK 3 (gir1.2-gtk-3.0 brings
# gir1.2-pango-1.0; python3-gi-cairo for its canvas); PyQt5.Qwt for the QT flowgraph's axis
# titles; Xvfb (and xauth for xvfb-run) to run the GUIs headless, as the tests do.
PKGS="gnuradio python3-venv python3-pip gir1.2-gtk-3.0 gir1.2-pango-1.0 python3-gi"
PKGS="$PKGS python3-gi-cairo python3-pyqt5.qwt xvfb xauth"

have_gnuradio() {
  [ -x "$SYS_PY" ] && "$SYS_PY" -c "import gnuradio.gr, venv, ensurepip" >/dev/null 2>&1
}

have_gui() {  # what gnuradio-companion and the QT flowgraph need, and Xvfb to run them headless
  command -v Xvfb >/dev/null && command -v xauth >/dev/null && "$SYS_PY" -c "
import gi
gi.require_version('Gtk', '3.0')  # GRC: 'Namespace Gtk not available' without gir1.2-gtk-3.0
gi.require_version('PangoCairo', '1.0')
gi.require_foreign('cairo', 'Context')
from PyQt5 import Qwt
" >/dev/null 2>&1
}

if ! have_gnuradio || ! have_gui; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing Debian packages: $PKGS"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $PKGS >/dev/null
  elif ! have_gnuradio; then
    echo "GNU Radio (Debian's 'gnuradio' package) and python3-venv are needed. Run:" >&2
    echo "    sudo apt-get install -y $PKGS" >&2
    exit 1
  else
    echo "warning: GNU Radio Companion, the QT flowgraph or the headless GUI tests need" >&2
    echo "    sudo apt-get install -y $PKGS" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating $VENV from $SYS_PY (with system site-packages for GNU Radio)"
  "$SYS_PY" -m venv --system-site-packages "$VENV"
fi

# Reinstall only when the project's metadata changed since the last install.
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
  echo ">> installing gr-cfisac (editable) with [dev,train,convex,sweep] into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c constraints.txt -e ".[dev,train,convex,sweep]" --config-settings editable_mode=compat
  touch "$STAMP"
fi
# The venv's numpy is the pinned one, not Debian's (1.24 on bookworm) through the system site.
NUMPY_PIN=$(sed -n 's/^numpy==\([0-9.]*\).*/\1/p' constraints.txt)
case "$NUMPY_PIN" in 1.26.*) ;; *) echo "constraints.txt must pin numpy==1.26.x" >&2; exit 1 ;; esac
"$VENV/bin/python" -c "
import sys, gnuradio.gr, numpy, gr_cfisac
if numpy.__version__ != '$NUMPY_PIN':
    sys.exit(f'numpy {numpy.__version__} from {numpy.__file__}, constraints.txt pins $NUMPY_PIN')
" || { echo "the venv is broken: remove .venv and run again" >&2; exit 1; }
# Everything is in place: make's target is newer than this script and the metadata.
touch "$STAMP"

#!/usr/bin/env bash
# Optional ray-traced channels (gr_cfisac.coisac.raytrace): install Debian's libllvm19 (Dr.Jit's
# CPU backend aborts with libLLVM 14/15, see docs/coisac.md) and the [raytrace] extra
# (sionna-rt, ~0.7 GB) into the project's venv with constraints.txt (numpy stays pinned).
# Not part of `make setup`. Idempotent: a second run only checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PKGS="libllvm19"

have_llvm19() {
  ldconfig -p 2>/dev/null | grep -q 'libLLVM\(-19\)\?\.so\.19' || ls /usr/lib/*/libLLVM.so.19* >/dev/null 2>&1
}

if ! have_llvm19; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing Debian packages: $PKGS"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $PKGS >/dev/null
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    echo ">> installing Debian packages with sudo: $PKGS"
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >/dev/null
  else
    echo "Dr.Jit (sionna-rt's CPU backend) needs LLVM 19. Run:" >&2
    echo "    sudo apt-get install -y $PKGS" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "no $VENV: run 'make setup' first" >&2
  exit 1
fi

if ! "$VENV/bin/python" -c "import sionna.rt" >/dev/null 2>&1; then
  echo ">> installing gr-cfisac's [raytrace] extra (sionna-rt) into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c constraints.txt -e ".[raytrace]" --config-settings editable_mode=compat
fi

# sionna-rt needs matplotlib >= 3.10, which pip puts in the venv over Debian's 3.6; its
# mpl_toolkits is a namespace package, so Debian's regular mpl_toolkits (system site) would win
# (Debian's matplotlib-*-nspkg.pth registers it first) and every pyplot import would warn
# "Unable to import Axes3D". Make the venv's copy a regular package imported by a .pth of the
# venv (processed before the system site's), so Debian's directory only comes second in its path.
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ -d "$SITE/mpl_toolkits" ] && [ ! -f "$SITE/mpl_toolkits/__init__.py" ]; then
  : > "$SITE/mpl_toolkits/__init__.py"
  echo "import mpl_toolkits" > "$SITE/cfisac-mpl-toolkits.pth"
fi

NUMPY_PIN=$(sed -n 's/^numpy==\([0-9.]*\).*/\1/p' constraints.txt)
"$VENV/bin/python" -c "
import sys, numpy, mitsuba, drjit, sionna.rt
if numpy.__version__ != '$NUMPY_PIN':
    sys.exit(f'numpy {numpy.__version__}, constraints.txt pins $NUMPY_PIN')
print(f'sionna-rt {sionna.rt.__version__}, mitsuba {mitsuba.__version__}, drjit {drjit.__version__}, numpy {numpy.__version__}')
" || { echo "the [raytrace] install is broken: see the message above" >&2; exit 1; }

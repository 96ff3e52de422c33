#!/usr/bin/env bash
# Prepare this Debian/Ubuntu machine for `make run` / `make test`:
#   system packages that are missing (PostgreSQL + PostGIS; for tests also docker-compose for the
#   compose-file check and Chromium for the map browser tests), via apt-get (with sudo when not
#   root), then the Python virtual environment.
# Usage: scripts/setup.sh run|test|bench  (bench: what test needs, and the load generator)
set -euo pipefail
cd "$(dirname "$0")/.."

PURPOSE=${1:-run}
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
PG_ROOT=${SANICHAIN_PG_ROOT:-/usr/lib/postgresql}     # Debian/Ubuntu layout: $PG_ROOT/<major>/bin
PG_SHARE=${SANICHAIN_PG_SHARE:-/usr/share/postgresql}
LOG_DIR=.data
mkdir -p "$LOG_DIR"
APT_LOG="$LOG_DIR/setup-apt.log"
PIP_LOG="$LOG_DIR/setup-pip.log"

say() { echo "sanichain: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

# apt-get's own output goes to $APT_LOG; on failure the caller prints one line saying what is missing.
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ "$APT_UPDATED" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$APT_LOG" 2>&1 || return 1
        APT_UPDATED=1
    fi
    say "installing $* (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >>"$APT_LOG" 2>&1
}

pg_bindir() {  # newest $PG_ROOT/<major>/bin holding initdb, or nothing
    local d found="" best=0 major
    for d in "$PG_ROOT"/*/bin; do
        [ -x "$d/initdb" ] || continue
        major=$(basename "$(dirname "$d")")
        case "$major" in *[!0-9]*) continue ;; esac
        if [ "$major" -gt "$best" ]; then best=$major; found=$d; fi
    done
    echo "$found"
}

need_postgis() {
    local bindir major
    bindir=$(pg_bindir)
    if [ -z "$bindir" ]; then
        apt_install postgresql \
            || die "PostgreSQL is missing and could not be installed with apt-get (log: $APT_LOG): install postgresql and postgresql-<version>-postgis-3, or set DATABASE_URL to an existing PostGIS database"
        bindir=$(pg_bindir)
        [ -n "$bindir" ] || die "PostgreSQL server programs not found after installing postgresql: set DATABASE_URL to an existing PostGIS database"
    fi
    major=$(basename "$(dirname "$bindir")")
    if [ ! -f "$PG_SHARE/$major/extension/postgis.control" ]; then
        apt_install "postgresql-$major-postgis-3" \
            || die "PostGIS for PostgreSQL $major is missing and could not be installed with apt-get (log: $APT_LOG): install postgresql-$major-postgis-3, or set DATABASE_URL to an existing PostGIS database"
    fi
    # pgRouting: distances along the road network (migration 0005 creates the extension)
    if [ ! -f "$PG_SHARE/$major/extension/pgrouting.control" ]; then
        apt_install "postgresql-$major-pgrouting" \
            || die "pgRouting for PostgreSQL $major is missing and could not be installed with apt-get (log: $APT_LOG): install postgresql-$major-pgrouting, or set DATABASE_URL to an existing PostGIS + pgRouting database"
    fi
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3.11)"

# A CJK font for the Chinese labels of PNG flow diagrams; optional (SVG/HTML need none).
if ! fc-list 2>/dev/null | grep -qi -e "WenQuanYi" -e "Noto Sans CJK"; then
    apt_install fonts-wqy-microhei || say "no CJK font (fonts-wqy-microhei): PNG diagrams fall back to English labels"
fi

if [ "$PURPOSE" = test ] || [ "$PURPOSE" = bench ]; then
    [ -n "${TEST_DATABASE_URL:-}" ] || need_postgis
    if ! command -v ogrinfo >/dev/null 2>&1; then  # GDAL's own tools check our exports and services
        apt_install gdal-bin || die "GDAL (gdal-bin, for the interoperability tests) is missing and could not be installed with apt-get (log: $APT_LOG)"
    fi
    if [ ! -x /usr/bin/chromium ]; then  # the map pages' browser tests drive Debian's Chromium (Playwright)
        apt_install chromium \
            || die "Chromium (for the map browser tests) is missing and could not be installed with apt-get (log: $APT_LOG)"
    fi
    if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
        apt_install docker-compose \
            || die "docker-compose (to validate docker-compose.yml) is missing and could not be installed with apt-get (log: $APT_LOG)"
    fi
else
    [ -n "${DATABASE_URL:-}" ] || need_postgis
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        py=$("$PYTHON" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install "$py-venv" || apt_install python3-venv \
            || die "cannot create a virtual environment: install $py-venv (apt-get) and run again"
        "$PYTHON" -m venv "$VENV"
    fi
fi

STAMP="$VENV/.sanichain-installed"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    say "installing Python dependencies into $VENV"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e '.[dev]'; } \
        >"$PIP_LOG" 2>&1; then
        tail -n 20 "$PIP_LOG" >&2
        die "installing the Python dependencies failed (full log: $PIP_LOG)"
    fi
    touch "$STAMP"
fi
if [ "$PURPOSE" = bench ] && ! "$VENV/bin/python" -c 'import locust' >/dev/null 2>&1; then
    say "installing the benchmarks' dependencies into $VENV (.[bench])"
    "$VENV/bin/python" -m pip install -e '.[dev,bench]' >"$PIP_LOG" 2>&1 \
        || { tail -n 20 "$PIP_LOG" >&2; die "installing the benchmarks' dependencies failed (full log: $PIP_LOG)"; }
fi

#!/usr/bin/env bash
# Install what stf needs from Debian packages.
#
#   scripts/install-tools.sh         argus, ra and capinfos, the missing ones only
#   scripts/install-tools.sh venv    python3-venv, when `python3 -m venv` cannot work
#                                    (Debian ships ensurepip in python3-venv)
#   scripts/install-tools.sh postgres  the PostgreSQL server (initdb, pg_ctl), for the
#                                    tests of stf on RelStorage
#
# As root it runs apt-get; otherwise it prints the command to run with sudo.
# A missing tool is not an error: stf runs without it and names the package
# when a command needs it (tests that need it are skipped). A Python that
# cannot make a venv is an error, since nothing else can be set up.
set -euo pipefail

PYTHON=${PYTHON:-python3}
declare -A PACKAGE=([argus]=argus-server [ra]=argus-client [capinfos]=wireshark-common)
# argus is installed in /usr/sbin, which is not in a normal Debian user's PATH.
SEARCH_PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { echo "install-tools: $*" >&2; }

missing_packages() {
    local tool
    for tool in argus ra capinfos; do
        PATH=$SEARCH_PATH command -v "$tool" >/dev/null || echo "${PACKAGE[$tool]}"
    done
}

# As root: install the packages. Otherwise: print the command and fail.
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        say "run: sudo apt-get install --no-install-recommends $*"
        return 1
    fi
    if ! command -v apt-get >/dev/null; then
        say "no apt-get here; install $* with your package manager"
        return 1
    fi
    say "installing $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

tools() {
    local packages
    packages=$(missing_packages | tr '\n' ' ')
    [ -z "$packages" ] && return 0
    # shellcheck disable=SC2086  # one word per package
    apt_install $packages && return 0
    say "continuing without them: flow generation and capinfos summaries need them"
}

venv() {
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return 0
    say "$PYTHON cannot make a virtual environment (no ensurepip)"
    apt_install python3-venv
}

postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && return 0
    apt_install postgresql && return 0
    say "continuing without the PostgreSQL server: the RelStorage tests are skipped"
}

case "${1:-tools}" in
    tools) tools ;;
    venv) venv ;;
    postgres) postgres ;;
    *) say "usage: $0 [tools|venv]"; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs what quorate needs on a fresh Debian 12 machine: system tools (as root) and a virtualenv in .venv.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(iproute2 nftables util-linux e2fsprogs procps iputils-ping psmisc openipmi ipmitool fence-agents resource-agents lvm2 kmod xfsprogs
    apache2 mariadb-server chromium chromium-driver faketime)
# Daemons the cluster starts through its application agents: never started by their packages, never at boot.
CLUSTER_DAEMONS=(apache2 apache-htcacheclean mariadb)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        # Refuse (101) to start the cluster's daemons while their packages install; anything else may start.
        printf '#!/bin/sh\ncase "$1" in %s) exit 101;; esac\nexit 0\n' "$(IFS='|'; echo "${CLUSTER_DAEMONS[*]}")" >"$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $EUID -eq 0 ]]; then
    systemctl disable --quiet "${CLUSTER_DAEMONS[@]}" 2>/dev/null || true
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import quorate, pytest, hypothesis" 2>/dev/null \
    || [[ pyproject.toml -nt .venv/.installed ]]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    touch .venv/.installed
fi
# Byte-compile the package: the editable install does not, and without it every `cman_tool status` or `clustat`
# compiles its modules again whenever PYTHONDONTWRITEBYTECODE is set (a few ms per run, on a benchmarked figure).
.venv/bin/python -m compileall -q src/quorate >/dev/null

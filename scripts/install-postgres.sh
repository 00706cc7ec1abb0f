#!/usr/bin/env bash
# Installs Debian's PostgreSQL server package when its binaries are missing: the store's
# tests start their own server from them (fakes/src/postgres.rs) and never skip.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    exit 0
fi
echo "installing PostgreSQL (Debian package postgresql)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/postgres

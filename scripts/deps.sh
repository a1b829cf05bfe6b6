#!/usr/bin/env bash
# Install the Debian 12 packages mohstats needs to build, test and run. Idempotent: when every package
# is already installed it only runs dpkg-query and returns.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  libuv1-dev libhiredis-dev libpq-dev libmariadb-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev node-llhttp
  libmosquitto-dev mosquitto-dev
  # countries of players and servers (common/geoip.c): the library and Debian's country databases (IPv4 and IPv6)
  libgeoip-dev geoip-database
  # servers started by scripts/stack.sh
  clickhouse-server clickhouse-client redis-server redis-tools postgresql-15 postgresql-client-15 mariadb-server mariadb-client
  nginx-light libnginx-mod-stream mosquitto
  # the dashboard's charts (queryd serves Chart.js from this package)
  libjs-chart.js
  # scripts and tests
  curl jq procps iproute2 gettext-base ca-certificates gdb mosquitto-clients
  # the tests' own small country databases (tests/geoip/build.sh runs its geoip-generator)
  geoip-bin
  # the dashboard's browser test (tests/integration/test_dashboard.sh drives Chromium through chromedriver)
  chromium chromium-driver
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Packaged services must not start on their own: scripts/stack.sh runs them on loopback as needed.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

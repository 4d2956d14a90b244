#!/usr/bin/env bash
# Installs what the JDBC driver test needs: a JDK (java + javac) and
# MariaDB Connector/J from Debian (libmariadb-java). Idempotent: does nothing
# (and never touches apt) when everything is already present.
set -euo pipefail

need=()
if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    need+=(default-jdk-headless)
fi
if ! ls /usr/share/java/mariadb-java-client*.jar >/dev/null 2>&1; then
    need+=(libmariadb-java)
fi

if [ ${#need[@]} -eq 0 ]; then
    echo "java driver deps present"
    exit 0
fi

echo "installing: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"

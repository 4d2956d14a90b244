#!/usr/bin/env bash
# Installs the Python clients the driver scenarios need, only when something is missing.
# Versions are pinned here; a run with everything present only imports the modules (about a second).
set -euo pipefail
PY=${PYTHON:-python3}
PKGS=('PyMySQL==1.2.4' 'mysqlclient==2.3.1' 'mysql-connector-python==9.7.0' 'aiomysql==0.3.2' 'SQLAlchemy==2.1.9')

# Every pinned distribution present at its pinned version, and the C extension of connector loads?
if "$PY" - "${PKGS[@]}" <<'PYEOF' 2>/dev/null; then exit 0; fi
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
import MySQLdb, pymysql, aiomysql, sqlalchemy, mysql.connector, _mysql_connector
PYEOF

sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
if ! command -v pkg-config >/dev/null || ! pkg-config --exists libmariadb; then
  echo "install.sh: installing pkg-config libmariadb-dev (needed to build mysqlclient)"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq pkg-config libmariadb-dev
fi
echo "install.sh: pip install ${PKGS[*]}"
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet "${PKGS[@]}"

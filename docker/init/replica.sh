#!/bin/bash
# Runs once on each replica's first start (docker-entrypoint-initdb.d): replicate from $SOURCE_HOST with
# GTID auto-positioning. The replication user has caching_sha2_password: ask the source for its RSA key.
set -euo pipefail
: "${SOURCE_HOST:?SOURCE_HOST names the primary}"
mysql --protocol=socket -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST='${SOURCE_HOST}', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl',
  SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=2;
START REPLICA;
SQL

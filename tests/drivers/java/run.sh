#!/usr/bin/env bash
# JDBC (MariaDB Connector/J) compatibility scenario against a running shardgate.
#
#   tests/drivers/java/run.sh HOST PORT TABLE PS
#
# PS=false: client-side prepared statements (use TABLE drv_jdbc)
# PS=true : useServerPrepStmts=true, server-side prepared statements (use TABLE drv_jdbc_ps)
# TABLE must be a sharded table (split by `id`). Prints "ok jdbc <version> ps=<PS>" and exits 0,
# or prints what differed and exits 1.
#
# Environment: JDBC_JAR overrides the Connector/J jar (default: Debian's libmariadb-java);
# JAVA_BUILD_DIR overrides where the class is compiled (default: tests/drivers/java/target);
# JAVA_CLASS runs another program of this folder with the same arguments (ExactCommit: tests/driver_exact.rs).
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 HOST PORT TABLE PS(true|false)" >&2
  exit 2
fi
host=$1 port=$2 table=$3 ps=$4

here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh" >/dev/null

jar=${JDBC_JAR:-/usr/share/java/mariadb-java-client.jar}
if [ ! -f "$jar" ]; then
  echo "Connector/J jar not found: $jar" >&2
  exit 2
fi

build=${JAVA_BUILD_DIR:-$here/target}
mkdir -p "$build"
class=${JAVA_CLASS:-Scenario}
if [ ! -f "$build/$class.class" ] || [ "$here/$class.java" -nt "$build/$class.class" ]; then
  javac -encoding UTF-8 -cp "$jar" -d "$build" "$here/$class.java"
fi

# A hard limit on top of the driver's socket timeout, so a proxy hang cannot stall the suite.
exec timeout 180 java -Dfile.encoding=UTF-8 -cp "$jar:$build" "$class" "$host" "$port" "$table" "$ps"

#!/usr/bin/env bash
# Connector/J commit/rollback exactness against a running shardgate (tests/driver_exact.rs):
#
#   tests/drivers/java/run_exact.sh HOST PORT TABLE PS
#
# Compiles ExactCommit.java (into JAVA_BUILD_DIR, default tests/drivers/java/target) and runs it; see the
# comment at the top of ExactCommit.java. JDBC_JAR overrides the Connector/J jar as in run.sh.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 HOST PORT TABLE PS(true|false)" >&2
  exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh" >/dev/null

jar=${JDBC_JAR:-/usr/share/java/mariadb-java-client.jar}
if [ ! -f "$jar" ]; then
  echo "Connector/J jar not found: $jar" >&2
  exit 2
fi

build=${JAVA_BUILD_DIR:-$here/target}
mkdir -p "$build"
if [ ! -f "$build/ExactCommit.class" ] || [ "$here/ExactCommit.java" -nt "$build/ExactCommit.class" ]; then
  javac -encoding UTF-8 -cp "$jar" -d "$build" "$here/ExactCommit.java"
fi

# A hard limit on top of the driver's socket timeout, so a proxy hang cannot stall the suite.
exec timeout 180 java -Dfile.encoding=UTF-8 -cp "$jar:$build" ExactCommit "$@"

#!/bin/bash
# The compose file's optional sysbench service: prepare and run oltp_read_write through shardgate.
set -euo pipefail
args=(--db-driver=mysql --mysql-host=172.28.0.20 --mysql-port=3307 --mysql-user=app --mysql-password=app
  --mysql-db=sbtest --tables=4 --table-size=10000 --threads="${THREADS:-8}" --time="${TIME:-30}")
sysbench oltp_read_write "${args[@]}" cleanup || true
sysbench oltp_read_write "${args[@]}" prepare
sysbench oltp_read_write "${args[@]}" --report-interval=5 run

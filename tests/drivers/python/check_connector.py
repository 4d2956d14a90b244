"""mysql-connector-python: python3 check_connector.py HOST PORT TABLE [pure | c]

pure (the default) uses the pure-Python protocol implementation (use_pure=True), c the C extension
(use_pure=False).
"""
import sys
import mysql.connector
import scenario

mode = sys.argv.pop(4) if len(sys.argv) == 5 else "pure"
if mode not in ("pure", "c"):
    sys.exit(f"usage: {sys.argv[0]} HOST PORT TABLE [pure | c]")
pure = mode == "pure"


def connect(host, port):
    conn = mysql.connector.connect(host=host, port=port, user=scenario.USER, password=scenario.PASSWORD,
                                   database=scenario.DATABASE, charset="utf8mb4", use_pure=pure)
    want = "MySQLConnection" if pure else "CMySQLConnection"
    if type(conn).__name__ != want:
        raise RuntimeError(f"asked for {want}, got {type(conn).__name__}")
    return scenario.dbapi(conn, conn.start_transaction)


client = "mysql-connector-python" + ("" if pure else "-cext")
scenario.main(client, "mysql-connector-python", scenario.with_db(connect))

"""mysqlclient (MySQLdb): python3 check_mysqlclient.py HOST PORT TABLE"""
import MySQLdb
import scenario


def connect(host, port):
    conn = MySQLdb.connect(host=host, port=port, user=scenario.USER, password=scenario.PASSWORD,
                           database=scenario.DATABASE, charset="utf8mb4")
    # MySQLdb has no begin(); autocommit is off, so a transaction starts with the next statement anyway,
    # but send an explicit BEGIN like an application would.
    return scenario.dbapi(conn, lambda: conn.query("BEGIN"))


scenario.main("mysqlclient", "mysqlclient", scenario.with_db(connect))

"""PyMySQL: python3 check_pymysql.py HOST PORT TABLE"""
import pymysql
import scenario


def connect(host, port):
    conn = pymysql.connect(host=host, port=port, user=scenario.USER, password=scenario.PASSWORD,
                           database=scenario.DATABASE, charset="utf8mb4")
    return scenario.dbapi(conn, conn.begin)


scenario.main("pymysql", "PyMySQL", scenario.with_db(connect))

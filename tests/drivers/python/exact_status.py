"""PyMySQL's view of the transaction status through shardgate equals one MariaDB's (tests/driver_exact.rs).

    python3 exact_status.py HOST PORT TABLE REF_PORT

TABLE (id INT PRIMARY KEY, v INT), empty, exists in `demo` both through the proxy at HOST:PORT (sharded by id
over both data sources) and on the unsharded reference MariaDB at 127.0.0.1:REF_PORT. The same scripts run on
both; after every statement that ends with an OK packet `conn.server_status & 0x2003` (IN_TRANS | AUTOCOMMIT |
IN_TRANS_READONLY) must be equal. PyMySQL refreshes server_status only from OK packets (not from a result
set's EOF), so SELECTs compare their rows instead and `SET @p = 1` after them shows the status they left.
Errors compare by code. After each script both connections are reset and the table's rows compared; when they
differ, the proxy's table is set to the reference's rows, so each script's differences are its own.
Prints `ok exact_status <n> steps` and exits 0, or every difference and exits 1.
"""
import sys

import pymysql

BITS = 0x0001 | 0x0002 | 0x2000  # IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY

if len(sys.argv) != 5:
    sys.exit(f"usage: {sys.argv[0]} HOST PORT TABLE REF_PORT")
host, port, T, ref_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

# Steps are SQL text, or (label, f) for a call of the driver's own API on the connection.
BEGIN = ("conn.begin()", lambda c: c.begin())
COMMIT = ("conn.commit()", lambda c: c.commit())
ROLLBACK = ("conn.rollback()", lambda c: c.rollback())
AUTOCOMMIT_OFF = ("conn.autocommit(False)", lambda c: c.autocommit(False))  # sends SET only if the flag says on
AUTOCOMMIT_ON = ("conn.autocommit(True)", lambda c: c.autocommit(True))
PROBE = "SET @p = 1"
ALL = f"INSERT INTO {T} VALUES " + ", ".join(f"({i}, 0)" for i in range(20, 28))  # keys on both shards

SCRIPTS = [
    ("autocommit on: single- and two-shard writes",
     [f"INSERT INTO {T} VALUES (1, 0)", ALL, f"UPDATE {T} SET v = v + 1 WHERE id = 1", f"UPDATE {T} SET v = v + 1",
      f"DELETE FROM {T} WHERE id = 27", f"SELECT * FROM {T} WHERE id = 1", PROBE]),
    ("autocommit off: single-shard write, COMMIT",
     ["SET autocommit = 0", PROBE, f"INSERT INTO {T} VALUES (2, 0)", PROBE, "COMMIT", PROBE]),
    ("autocommit off: reads open the transaction, two-shard write, ROLLBACK",
     ["SET autocommit = 0", "SELECT 1", PROBE, f"SELECT * FROM {T} WHERE id = 2", PROBE,
      f"UPDATE {T} SET v = v + 10", "ROLLBACK", PROBE, f"SELECT COUNT(*) FROM {T}", PROBE, "COMMIT"]),
    ("autocommit off: two-shard insert, COMMIT",
     ["SET autocommit = 0", f"INSERT INTO {T} VALUES (3, 0), (30, 0), (31, 0), (32, 0), (33, 0)", "COMMIT", PROBE]),
    ("BEGIN, single-shard write, COMMIT",
     ["BEGIN", PROBE, f"UPDATE {T} SET v = 5 WHERE id = 3", "COMMIT", PROBE]),
    ("BEGIN, two-shard write, ROLLBACK",
     ["BEGIN", f"DELETE FROM {T} WHERE id >= 20", f"INSERT INTO {T} VALUES (4, 4)", "ROLLBACK", PROBE]),
    ("START TRANSACTION READ ONLY: read, refused write, COMMIT",
     ["START TRANSACTION READ ONLY", PROBE, f"SELECT * FROM {T} ORDER BY id", PROBE, f"INSERT INTO {T} VALUES (5, 0)", PROBE,
      "COMMIT", PROBE]),
    ("autocommit off, START TRANSACTION READ ONLY, ROLLBACK",
     ["SET autocommit = 0", "START TRANSACTION READ ONLY", f"SELECT * FROM {T} WHERE id = 1", PROBE, "ROLLBACK", PROBE]),
    ("autocommit off: SET autocommit = 1 with an open two-shard transaction commits it",
     ["SET autocommit = 0", f"UPDATE {T} SET v = v + 100", PROBE, "SET autocommit = 1", PROBE,
      f"SELECT id, v FROM {T} ORDER BY id"]),
    ("BEGIN, write, SET autocommit = 1 (already on: the transaction stays open), ROLLBACK",
     ["BEGIN", f"INSERT INTO {T} VALUES (6, 0), (60, 0), (61, 0)", "SET autocommit = 1", PROBE, "ROLLBACK", PROBE]),
    ("autocommit off, write, BEGIN commits it and opens another",
     ["SET autocommit = 0", f"INSERT INTO {T} VALUES (7, 0)", "BEGIN", PROBE, f"INSERT INTO {T} VALUES (70, 0)",
      "ROLLBACK", PROBE]),
    ("driver API: autocommit(False), two-shard write, commit(), autocommit(True)",
     [AUTOCOMMIT_OFF, PROBE, f"UPDATE {T} SET v = v - 1", COMMIT, PROBE, AUTOCOMMIT_ON, PROBE]),
    ("driver API: begin(), two-shard write, rollback()",
     [BEGIN, f"UPDATE {T} SET v = 0", ROLLBACK, PROBE]),
    ("driver API: autocommit(False), read only, rollback(), autocommit(True)",
     [AUTOCOMMIT_OFF, f"SELECT * FROM {T} WHERE id = 20", ROLLBACK, AUTOCOMMIT_ON]),
]


def run(conn, step):
    """('ok', status bits) | ('rows', rows) | ('error', code)."""
    try:
        if isinstance(step, tuple):
            step[1](conn)
            return ("ok", conn.server_status & BITS)
        with conn.cursor() as cur:
            cur.execute(step)
            if cur.description is not None:
                return ("rows", [tuple(r) for r in cur.fetchall()])
            return ("ok", conn.server_status & BITS)
    except pymysql.err.MySQLError as e:
        return ("error", e.args[0])


def show(result):
    kind, value = result
    return f"status 0x{value:04x}" if kind == "ok" else f"{kind} {value!r}"


def main():
    def connect(h, p):  # autocommit=True: every script starts with autocommit on, outside a transaction
        return pymysql.connect(host=h, port=p, user="app", password="app", database="demo", autocommit=True)
    via, ref = connect(host, port), connect("127.0.0.1", ref_port)
    diffs, steps = [], 0
    for name, script in SCRIPTS:
        for step in script + ["ROLLBACK", "SET autocommit = 1", f"SELECT id, v FROM {T} ORDER BY id"]:
            label = step[0] if isinstance(step, tuple) else step
            got, want = run(via, step), run(ref, step)
            steps += 1
            if got != want:
                diffs.append(f"[{name}] {label}\n    proxy:     {show(got)}\n    reference: {show(want)}")
        if got != want:  # the rows differ after the script: start the next one from the reference's rows
            with via.cursor() as cur:
                cur.execute(f"DELETE FROM {T}")
                if want[1]:
                    cur.execute(f"INSERT INTO {T} VALUES " + ", ".join(f"({i}, {v})" for i, v in want[1]))
    via.close()
    ref.close()
    if diffs:
        print(f"FAIL exact_status: {len(diffs)} difference(s) in {steps} steps")
        print("\n".join(diffs))
        sys.exit(1)
    print(f"ok exact_status PyMySQL {pymysql.__version__}: {steps} steps equal")


main()

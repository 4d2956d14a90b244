"""The scenario shared by the Python driver scripts in this directory, and their command line.

A DB-API script wraps its driver in a `Db` and calls `main(client, distribution, with_db(connect))`. Values
always go through the driver's own parameter binding (%s placeholders), never into the SQL text.
"""
import sys
import traceback
from datetime import datetime
from decimal import Decimal
from importlib.metadata import version

USER = "app"
PASSWORD = "app"
DATABASE = "demo"


class Db:
    """What the scenario needs from a driver; each script passes the driver's own calls."""

    def __init__(self, execute, begin, commit, rollback, close):
        # execute(sql, params) -> (rows as a list of tuples, rowcount); rows is [] for statements without a result
        self.execute, self.begin, self.commit, self.rollback, self.close = execute, begin, commit, rollback, close


def dbapi(conn, begin):
    """A Db over a PEP 249 connection; begin() is the driver's own way to start a transaction."""
    def execute(sql, params):
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
            return rows, cur.rowcount
        finally:
            cur.close()
    return Db(execute, begin, conn.commit, conn.rollback, conn.close)


class Checker:
    def __init__(self):
        self.failures = []

    def eq(self, what, got, want):
        """Equal reprs: same values and same Python types, Decimals with the same scale (8.75, not 8.750)."""
        def shape(v):
            return [shape(x) for x in v] if isinstance(v, (list, tuple)) else repr(v)
        if shape(got) != shape(want):
            self.failures.append(f"{what}\n    got:  {got!r}\n    want: {want!r}")


def run(db, t):
    c = Checker()

    def q(sql, params):
        try:
            return db.execute(sql, params)
        except Exception as e:
            raise RuntimeError(f"statement failed: {sql}  params={params!r}: {e!r}") from e

    # 1. schema
    q(f"DROP TABLE IF EXISTS {t}", None)
    q(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4, "
      f"amount DECIMAL(10,2), created DATETIME)", None)

    # 2. ten rows, one parameterised INSERT each; `model` is what the table must hold
    model = {}
    for i in range(1, 11):
        row = ("Zoë ☃" if i == 7 else f"name-{i}", Decimal("1.25") * i, datetime(2026, 11, 23, 10, 0, i))
        _, n = q(f"INSERT INTO {t} (id, name, amount, created) VALUES (%s, %s, %s, %s)", (i,) + row)
        c.eq(f"INSERT id={i} rowcount", n, 1)
        model[i] = list(row)
    db.commit()

    def totals():
        return [(len(model), sum(r[1] for r in model.values()))]

    # 3-6. reads
    c.eq(f"SELECT name, amount FROM {t} WHERE id = 7",
         q(f"SELECT name, amount FROM {t} WHERE id = %s", (7,))[0], [("Zoë ☃", Decimal("8.75"))])
    c.eq(f"SELECT COUNT(*), SUM(amount) FROM {t}",
         q(f"SELECT COUNT(*), SUM(amount) FROM {t}", None)[0], [(10, Decimal("68.75"))])
    c.eq(f"SELECT id FROM {t} ORDER BY amount DESC LIMIT 3",
         q(f"SELECT id FROM {t} ORDER BY amount DESC LIMIT 3", None)[0], [(10,), (9,), (8,)])
    c.eq(f"SELECT id FROM {t} WHERE id IN (2, 3, 4) ORDER BY id",
         q(f"SELECT id FROM {t} WHERE id IN (%s, %s, %s) ORDER BY id", (2, 3, 4))[0], [(2,), (3,), (4,)])

    # 7. update and delete, with affected-row counts
    c.eq(f"UPDATE {t} SET amount = amount + 1 WHERE id = 5 rowcount",
         q(f"UPDATE {t} SET amount = amount + 1 WHERE id = %s", (5,))[1], 1)
    model[5][1] += 1
    c.eq(f"DELETE FROM {t} WHERE id = 6 rowcount", q(f"DELETE FROM {t} WHERE id = %s", (6,))[1], 1)
    del model[6]
    db.commit()

    # 8. a cross-shard transaction rolled back, then one committed (ids 1 and 2 live on different shards)
    db.begin()
    q(f"UPDATE {t} SET name = %s WHERE id = %s", ("x", 1))
    q(f"UPDATE {t} SET name = %s WHERE id = %s", ("y", 2))
    db.rollback()
    c.eq("names of ids 1, 2 after ROLLBACK",
         q(f"SELECT id, name FROM {t} WHERE id IN (%s, %s) ORDER BY id", (1, 2))[0],
         [(1, model[1][0]), (2, model[2][0])])
    db.commit()  # ends the read's implicit transaction (connector refuses start_transaction inside one)
    db.begin()
    q(f"UPDATE {t} SET amount = %s WHERE id = %s", (100, 1))
    q(f"UPDATE {t} SET amount = %s WHERE id = %s", (200, 2))
    db.commit()
    model[1][1], model[2][1] = Decimal("100.00"), Decimal("200.00")
    c.eq("amounts of ids 1, 2 after COMMIT",
         q(f"SELECT id, amount FROM {t} WHERE id IN (%s, %s) ORDER BY id", (1, 2))[0],
         [(1, Decimal("100.00")), (2, Decimal("200.00"))])

    # 9. final state
    c.eq(f"SELECT COUNT(*), SUM(amount) FROM {t} (end)", q(f"SELECT COUNT(*), SUM(amount) FROM {t}", None)[0],
         totals())
    c.eq(f"SELECT created FROM {t} WHERE id = 3",
         q(f"SELECT created FROM {t} WHERE id = %s", (3,))[0], [(datetime(2026, 11, 23, 10, 0, 3),)])
    db.commit()

    # 10.
    q(f"DROP TABLE {t}", None)
    return c.failures


def with_db(connect):
    """check(host, port, table) for main(): runs the scenario on the Db that connect(host, port) returns."""
    def check(host, port, table):
        db = connect(host, port)
        try:
            return run(db, table)
        finally:
            db.close()
    return check


def main(client, distribution, check):
    """check(host, port, table) -> list of differences. Prints `ok <client> <version>` and exits 0, or what
    differed (or the error) and exits 1."""
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} HOST PORT TABLE")
    host, port, table = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    label = f"{client} {version(distribution)}"
    try:
        failures = check(host, port, table)
    except Exception:
        print(f"FAIL {label}: error")
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    if failures:
        print(f"FAIL {label}:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print(f"ok {label}")

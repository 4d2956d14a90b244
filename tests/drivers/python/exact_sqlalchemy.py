"""SQLAlchemy 2 ORM (on PyMySQL) transaction outcomes through shardgate (tests/driver_exact.rs).

    python3 exact_sqlalchemy.py HOST PORT TABLE

TABLE (id BIGINT PRIMARY KEY, v VARCHAR(20)) exists, empty, sharded by id over both data sources.
1. A Session reads, adds ids 1..8 (keys on both shards) and commits: a new connection sees all eight.
2. A Session adds ids 101..108, flushes them (the INSERTs reach both shards) and rolls back: a new connection
   sees none of them, and the committed rows are unchanged.
Prints `ok exact_sqlalchemy <version>` and exits 0, or what differed and exits 1.
"""
import sys

import sqlalchemy
from sqlalchemy import BigInteger, String, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

if len(sys.argv) != 4:
    sys.exit(f"usage: {sys.argv[0]} HOST PORT TABLE")
host, port, table = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = table
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    v: Mapped[str] = mapped_column(String(20))


url = f"mysql+pymysql://app:app@{host}:{port}/demo"
engine = create_engine(url)


def ids():
    """The table's ids, read by a connection of its own (a fresh engine without a pool)."""
    fresh = create_engine(url, poolclass=NullPool)
    try:
        with fresh.connect() as c:
            return [r[0] for r in c.execute(text(f"SELECT id FROM {table} ORDER BY id"))]
    finally:
        fresh.dispose()


failures = []
with Session(engine) as s:
    s.scalar(select(func.count()).select_from(Row))  # the transaction starts with a read
    s.add_all([Row(id=i, v=f"row-{i}") for i in range(1, 9)])
    s.commit()
if ids() != list(range(1, 9)):
    failures.append(f"after commit: want ids {list(range(1, 9))}, got {ids()}")

with Session(engine) as s:
    s.add_all([Row(id=i, v=f"row-{i}") for i in range(101, 109)])
    s.flush()
    n = s.scalar(select(func.count()).select_from(Row))  # the session's own transaction sees its inserts
    if n != 16:
        failures.append(f"inside the rolled-back session after flush: want 16 rows, got {n}")
    s.rollback()
if ids() != list(range(1, 9)):
    failures.append(f"after rollback: want ids {list(range(1, 9))}, got {ids()}")
engine.dispose()

if failures:
    print("FAIL exact_sqlalchemy:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok exact_sqlalchemy SQLAlchemy {sqlalchemy.__version__}")

"""SQLAlchemy 2 ORM on PyMySQL: python3 check_sqlalchemy.py HOST PORT TABLE"""
from datetime import datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import BigInteger, DateTime, Numeric, create_engine, func, select
from sqlalchemy.dialects.mysql import VARCHAR
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import scenario


def check(host, port, table):
    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
        name: Mapped[Optional[str]] = mapped_column(VARCHAR(50, charset="utf8mb4"))
        amount: Mapped[Optional[Decimal]] = mapped_column(Numeric(10, 2))
        created: Mapped[Optional[datetime]] = mapped_column(DateTime)

    c = scenario.Checker()
    engine = create_engine(f"mysql+pymysql://{scenario.USER}:{scenario.PASSWORD}@{host}:{port}/"
                           f"{scenario.DATABASE}?charset=utf8mb4")
    try:
        Base.metadata.drop_all(engine)  # a table left by an earlier failed run
        Base.metadata.create_all(engine)

        def read(stmt):  # every check reads in a fresh session, so nothing comes from the identity map
            with Session(engine) as s:
                return [tuple(r) for r in s.execute(stmt)]

        def totals():
            return read(select(func.count(), func.sum(Item.amount)).select_from(Item))

        with Session(engine) as s:
            s.add_all([Item(id=i, name="Zoë ☃" if i == 7 else f"name-{i}", amount=Decimal("1.25") * i,
                            created=datetime(2026, 11, 23, 10, 0, i)) for i in range(1, 11)])
            s.commit()

        with Session(engine) as s:
            item = s.get(Item, 7)
            c.eq("session.get(Item, 7)", (item.name, item.amount), ("Zoë ☃", Decimal("8.75")))
        c.eq("count, sum(amount)", totals(), [(10, Decimal("68.75"))])
        c.eq("order_by(amount desc).limit(3)", read(select(Item.id).order_by(Item.amount.desc()).limit(3)),
             [(10,), (9,), (8,)])
        c.eq("filter(id in 2, 3, 4).order_by(id)",
             read(select(Item.id).where(Item.id.in_([2, 3, 4])).order_by(Item.id)), [(2,), (3,), (4,)])

        with Session(engine) as s:
            s.get(Item, 5).amount += 1
            s.commit()
        with Session(engine) as s:
            s.delete(s.get(Item, 6))
            s.commit()
        c.eq("amount of 5 after update", read(select(Item.amount).where(Item.id == 5)), [(Decimal("7.25"),)])
        c.eq("id 6 after delete", read(select(Item.id).where(Item.id == 6)), [])

        # changes flushed to both shards (ids 1 and 2), then rolled back; then the same kind committed
        with Session(engine) as s:
            s.get(Item, 1).name, s.get(Item, 2).name = "x", "y"
            s.flush()
            s.rollback()
        c.eq("names of 1, 2 after rollback",
             read(select(Item.id, Item.name).where(Item.id.in_([1, 2])).order_by(Item.id)),
             [(1, "name-1"), (2, "name-2")])
        with Session(engine) as s:
            s.get(Item, 1).amount, s.get(Item, 2).amount = Decimal(100), Decimal(200)
            s.commit()
        c.eq("amounts of 1, 2 after commit",
             read(select(Item.id, Item.amount).where(Item.id.in_([1, 2])).order_by(Item.id)),
             [(1, Decimal("100.00")), (2, Decimal("200.00"))])

        # 68.75, +1 on id 5, -7.50 for id 6, ids 1 and 2 from 1.25 + 2.50 to 100 + 200
        c.eq("count, sum(amount) at the end", totals(),
             [(9, Decimal("68.75") + 1 - Decimal("7.50") - Decimal("3.75") + 300)])
        c.eq("created of 3", read(select(Item.created).where(Item.id == 3)), [(datetime(2026, 11, 23, 10, 0, 3),)])

        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()
    return c.failures


scenario.main("sqlalchemy", "SQLAlchemy", check)

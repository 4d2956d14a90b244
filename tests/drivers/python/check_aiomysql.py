"""aiomysql: python3 check_aiomysql.py HOST PORT TABLE

The shared scenario is synchronous, so each driver coroutine runs to completion on one event loop.
"""
import asyncio
import warnings
import aiomysql
import scenario

warnings.simplefilter("ignore", aiomysql.Warning)  # DROP TABLE IF EXISTS of a missing table
loop = asyncio.new_event_loop()
run = loop.run_until_complete


def connect(host, port):
    conn = run(aiomysql.connect(host=host, port=port, user=scenario.USER, password=scenario.PASSWORD,
                                db=scenario.DATABASE, charset="utf8mb4", autocommit=False))

    async def execute(sql, params):
        async with conn.cursor() as cur:
            await cur.execute(sql, params)
            rows = [tuple(r) for r in await cur.fetchall()] if cur.description else []
            return rows, cur.rowcount

    return scenario.Db(lambda sql, params: run(execute(sql, params)),
                       lambda: run(conn.begin()), lambda: run(conn.commit()), lambda: run(conn.rollback()),
                       lambda: (conn.close(), loop.close()))


scenario.main("aiomysql", "aiomysql", scenario.with_db(connect))

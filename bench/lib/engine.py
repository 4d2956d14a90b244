"""bench/engine.sh's loader and timer (see there). Python's pymysql, as a client application would time it."""
import json
import statistics
import sys
import time

import pymysql

# Rows: a and b 100k each (b.aid points into a, so the join is not on b's sharding column), big 1M; ids
# 0 … N-1. "mod" over two nodes: even ids on ds_0, odd ones on ds_1.
TABLES = {
    "a": ("CREATE TABLE a (id BIGINT PRIMARY KEY, k INT NOT NULL, v INT NOT NULL, pad CHAR(40) NOT NULL)",
          "INSERT INTO a SELECT seq, (seq * 7919) % 10000, seq % 1000, 'padding-padding-padding' FROM {seq}", 100_000),
    "b": ("CREATE TABLE b (id BIGINT PRIMARY KEY, aid BIGINT NOT NULL, w INT NOT NULL, KEY (aid))",
          "INSERT INTO b SELECT seq, (seq * 104729) % 100000, (seq * 31) % 100000 FROM {seq}", 100_000),
    "big": ("CREATE TABLE big (id BIGINT PRIMARY KEY, x INT NOT NULL)",
            "INSERT INTO big SELECT seq, seq % 100 FROM {seq}", 1_000_000),
}

QUERIES = [
    ("join", "a join of two non-co-located sharded tables (100k rows each), filtered to ~1k rows each",
     "SELECT COUNT(*), SUM(b.w) FROM a JOIN b ON b.aid = a.id WHERE a.k < 100 AND b.w < 1000"),
    ("derived", "COUNT(*) over a derived table of 1M rows",
     "SELECT COUNT(*) FROM (SELECT id FROM big WHERE x >= 0) d"),
    ("exists", "a correlated EXISTS over 100k rows",
     "SELECT COUNT(*) FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.aid = a.id AND b.w < 500)"),
    ("union", "a UNION of two scatter queries",
     "SELECT id FROM a WHERE k = 5 UNION SELECT aid FROM b WHERE w < 50 ORDER BY 1"),
]


def connect(port, db=None, user="root", password=""):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, database=db, autocommit=True)


def load(lab_port):
    """The tables on both shards (their halves) and on the reference (all rows)."""
    for port, start in ((lab_port, 0), (lab_port + 2, 1), (lab_port + 4, None)):
        c = connect(port)
        cur = c.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS eng")
        cur.execute("USE eng")
        for name, (create, insert, rows) in TABLES.items():
            cur.execute(f"DROP TABLE IF EXISTS {name}")
            cur.execute(create)
            seq = f"seq_0_to_{rows - 1}" if start is None else f"seq_{start}_to_{rows - 1}_step_2"
            cur.execute(insert.format(seq=seq))
        c.close()


def timed(cur, sql):
    started = time.perf_counter()
    cur.execute(sql)
    rows = cur.fetchall()
    return time.perf_counter() - started, rows


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run(lab_port, proxy_port, proxy_pid, out):
    rounds = int(__import__("os").environ.get("ROUNDS", "5"))
    via = connect(proxy_port, "eng", "app", "app").cursor()
    ref = connect(lab_port + 4, "eng").cursor()
    results = []
    for name, what, sql in QUERIES:
        # Same answer first (and a warm-up of both sides).
        _, got = timed(via, sql)
        _, want = timed(ref, sql)
        if sorted(map(tuple, got)) != sorted(map(tuple, want)):
            sys.exit(f"engine.py: {name}: shardgate answered {got[:3]}…, MariaDB {want[:3]}…")
        results.append({"name": name, "what": what, "sql": sql, "rows": len(want), "shardgate_s": [], "direct_s": []})
    for _ in range(rounds):
        for r in results:
            r["shardgate_s"].append(timed(via, r["sql"])[0])
            r["direct_s"].append(timed(ref, r["sql"])[0])
    for r in results:
        r["shardgate_median_ms"] = statistics.median(r["shardgate_s"]) * 1000
        r["direct_median_ms"] = statistics.median(r["direct_s"]) * 1000
        r["ratio"] = r["shardgate_median_ms"] / max(r["direct_median_ms"], 1e-6)
    doc = {"rounds": rounds, "queries": results, "proxy_peak_rss_mib": peak_rss_mib(proxy_pid)}
    json.dump(doc, open(out, "w"), indent=1)
    for r in results:
        print(f"{r['name']:8} shardgate {r['shardgate_median_ms']:9.1f} ms  direct {r['direct_median_ms']:9.1f} ms  ratio {r['ratio']:6.2f}")
    print(f"proxy peak RSS {doc['proxy_peak_rss_mib']:.1f} MiB")


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(int(sys.argv[2]))
    else:
        run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])

"""bench/deadlocks.sh's figures: each sysbench run's per-second reports read for stalls (0 tps), its summary
for transactions and ignored errors (1213), with the cycles shardgate broke during it."""
import json
import re
import sys

runs_tsv, out = sys.argv[1:]


def stats(path):
    """A SHOW SHARDGATE STATS dump (name TAB value per line) as a dict of ints."""
    rows = (line.rstrip("\n").split("\t") for line in open(path))
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}


runs = []
for line in open(runs_tsv):
    n, status, broken, log, before, after = line.rstrip("\n").split("\t")
    b, a = stats(before), stats(after)
    delta = {k: a[k] - b.get(k, 0) for k in a if k.startswith("xa_")}
    text = open(log, errors="replace").read()
    tps = [float(m) for m in re.findall(r"^\[ *\d+s \].*? tps: ([0-9.]+)", text, re.M)]
    # The longest stretch of consecutive seconds at 0 tps.
    longest = run = 0
    for t in tps:
        run = run + 1 if t == 0 else 0
        longest = max(longest, run)
    total = re.search(r"transactions:\s+(\d+)", text)
    ignored = re.search(r"ignored errors:\s+(\d+)", text)
    fatal = re.findall(r"FATAL: .*", text)
    runs.append({
        "run": int(n), "exit": int(status), "cycles_broken": int(broken), "seconds_reported": len(tps),
        "zero_tps_seconds": sum(1 for t in tps if t == 0), "longest_stall_s": longest,
        "min_tps": min(tps) if tps else None, "transactions": int(total.group(1)) if total else None,
        "ignored_errors": int(ignored.group(1)) if ignored else None, "fatal": fatal[:3],
        "lock_wait_timeouts": text.count("1205"),
        "xa": delta,
    })
json.dump({"runs": runs}, open(out, "w"), indent=1)

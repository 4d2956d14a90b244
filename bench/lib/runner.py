#!/usr/bin/env python3
"""The sysbench loop of bench/run.sh (stdlib only). run.sh installs, starts the lab and the targets,
and describes them in WORKDIR/targets.tsv (+ skipped.tsv); the matrix comes from the environment
(WORKLOADS, MODES, THREADS, TIME, ROUNDS, WARMUP, TABLES, TABLE_SIZE). This runs it interleaved and
rewrites OUT_JSON after every run, so an interrupted bench still leaves what it measured.

    runner.py WORKDIR OUT_JSON
"""
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
WRITE_WORKLOADS = {"oltp_read_write", "oltp_write_only", "oltp_insert"}


def log(msg):
    print(f"bench: {msg}", flush=True)


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds; None if it is gone."""
    if not pid:
        return None
    if isinstance(pid, list):  # several processes (the backend primaries): the sum
        vals = [proc_cpu_s(p) for p in pid]
        return None if None in vals else sum(vals)
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return None
    # after "pid (comm)": state is fields[0], utime is field 14 of the line -> index 11 here
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def host_cpu_s():
    """(busy, total) CPU seconds of the whole machine, all cores."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    total = sum(v[:8])  # guest time is already inside user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sysbench_cmd(cfg, workload, port, mode, threads, seconds, extra=()):
    return [
        "sysbench", workload,
        "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
        f"--mysql-user={cfg['user']}", f"--mysql-password={cfg['password']}", f"--mysql-db={cfg['db']}",
        f"--tables={cfg['tables']}", f"--table-size={cfg['table_size']}",
        f"--db-ps-mode={mode}", f"--threads={threads}", f"--time={seconds}",
        *extra, "run",
    ]


def parse_histogram(text):
    rows = re.findall(r"^\s+([0-9.]+) \|\**\s+(\d+)$", text, re.M)
    return [(float(v), int(c)) for v, c in rows]


def percentile(hist, p):
    """sysbench's own rule (sb_histogram.c get_pct_cumulative): the first bucket where the running
    count reaches floor(n * p / 100 + 0.5). So p95 here equals sysbench's printed 95th percentile."""
    n = sum(c for _, c in hist)
    if n == 0:
        return None
    nmax = math.floor(n * p / 100.0 + 0.5)
    acc = 0
    for v, c in hist:
        acc += c
        if acc >= nmax:
            return v
    return hist[-1][0]


def num(pattern, text, conv=float):
    m = re.search(pattern, text, re.M)
    return conv(m.group(1)) if m else None


def parse_sysbench(text):
    hist = parse_histogram(text)
    r = {
        "queries": num(r"^\s+queries:\s+(\d+)", text, int),
        "qps": num(r"^\s+queries:\s+\d+\s+\(([0-9.]+) per sec", text),
        "transactions": num(r"^\s+transactions:\s+(\d+)", text, int),
        "tps": num(r"^\s+transactions:\s+\d+\s+\(([0-9.]+) per sec", text),
        "reads": num(r"^\s+read:\s+(\d+)", text, int),
        "writes": num(r"^\s+write:\s+(\d+)", text, int),
        "other": num(r"^\s+other:\s+(\d+)", text, int),
        "errors": num(r"^\s+ignored errors:\s+(\d+)", text, int),
        "reconnects": num(r"^\s+reconnects:\s+(\d+)", text, int),
        "duration_s": num(r"^\s+total time:\s+([0-9.]+)s", text),
        "events": num(r"^\s+total number of events:\s+(\d+)", text, int),
        "lat_min_ms": num(r"^\s+min:\s+([0-9.]+)", text),
        "lat_avg_ms": num(r"^\s+avg:\s+([0-9.]+)", text),
        "lat_max_ms": num(r"^\s+max:\s+([0-9.]+)", text),
        "p95_ms_sysbench": num(r"^\s+95th percentile:\s+([0-9.]+)", text),
        "p95_ms": percentile(hist, 95),
        "p99_ms": percentile(hist, 99),
        "histogram_events": sum(c for _, c in hist),
    }
    return r


def run_sysbench(cmd, timeout):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return p.returncode, p.stdout, time.time() - t0
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", out + f"\n[bench: sysbench killed after {timeout} s]", time.time() - t0


def error_lines(text):
    keep = [l for l in text.splitlines() if re.search(r"FATAL|error|Error|ERROR|failed", l)]
    return keep[:20]


def prepare(cfg, target, backend_socks):
    """Re-create the sbtest tables through the target's prepare port, so every cell starts alike."""
    port = target["prepare_port"]
    base = ["sysbench", "oltp_common", *target["extra_args"], "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
            f"--mysql-user={cfg['user']}", f"--mysql-password={cfg['password']}", f"--mysql-db={cfg['db']}",
            f"--tables={cfg['tables']}", f"--table-size={cfg['table_size']}", f"--threads={min(cfg['tables'], 4)}"]
    for step in ("cleanup", "prepare"):
        rc, out, _ = run_sysbench(base + [step], 600)
        if rc != 0:
            raise SystemExit(f"bench: sysbench {step} through port {port} failed (rc {rc}):\n{out[-4000:]}")
    for sock in backend_socks:  # binlogs of write workloads add up; replicas are stopped and the lab is wiped per run
        subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot",
                        "-e", "PURGE BINARY LOGS BEFORE NOW()"], check=False)


def sh(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001 - meta is best effort
        return f"unavailable: {e}"


def first_line(text):
    return text.splitlines()[0] if text else text


def collect_meta(env):
    repo = env["BENCH_REPO"]
    cpu_model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    sg = env.get("BENCH_SHARDGATE_COPY")
    dirty = sh(["git", "-C", repo, "status", "--porcelain"]).splitlines()
    return {
        "hostname": os.uname().nodename,
        "nproc": sh(["nproc"]),
        "cpu_model": cpu_model,
        "mem_total_mb": mem_kb // 1024,
        "kernel": os.uname().release,
        "os": sh(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "mariadb": sh(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{env['BENCH_DIRECT_PORT']}", "-uapp",
                       "-papp", "-N", "-e", "SELECT VERSION()"]),
        "sysbench": sh(["sysbench", "--version"]),
        "haproxy": first_line(sh(["haproxy", "-v"])).split(" - ")[0].replace(" version", "")
        if env.get("BENCH_HAPROXY_USED") else None,
        "python": sys.version.split()[0],
        "rustc": sh(["rustc", "--version"]),
        "git_commit": sh(["git", "-C", repo, "rev-parse", "HEAD"]),
        "git_branch": sh(["git", "-C", repo, "rev-parse", "--abbrev-ref", "HEAD"]),
        "git_dirty_paths": dirty[:50],
        "shardgate_binary": {
            "source": env.get("BENCH_SHARDGATE_BIN"),
            "sha256": sh(["sha256sum", sg]).split()[0] if sg else None,
            "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(sg).st_mtime)) if sg else None,
            "version": sh([sg, "--version"]) if sg else None,
        },
        "command": env.get("BENCH_COMMAND"),
        "env": {k: env[k] for k in ("QUICK", "WORKLOADS", "MODES", "THREADS", "TARGETS", "TIME", "ROUNDS",
                                    "WARMUP", "TABLES", "TABLE_SIZE", "SHARDGATE_BIN", "BASE_BIN", "SHARDGATE_WORKERS",
                                    "SPLICE_WORKERS", "HAPROXY_NBTHREAD", "KEEP_REPLICATION", "SHARDED_RULES_TEMPLATE",
                                    "SHARDED_SYSBENCH_ARGS", "SHARDED_TRANSACTION_MODE", "OUT")
                if k in env},
    }


def read_tsv(path, cols):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    rows.append(dict(zip(cols, line.rstrip("\n").split("\t"))))
    return rows


def main():
    work, out_path = sys.argv[1], sys.argv[2]
    env = os.environ
    cfg = {
        "workloads": env["WORKLOADS"].split(), "modes": env["MODES"].split(),
        "threads": [int(t) for t in env["THREADS"].split()], "time": int(env["TIME"]),
        "rounds": int(env["ROUNDS"]), "warmup": int(env["WARMUP"]), "tables": int(env["TABLES"]),
        "table_size": int(env["TABLE_SIZE"]), "user": "app", "password": "app", "db": "sbtest",
        "quick": env.get("QUICK") == "1",
        "replication": "running" if env.get("KEEP_REPLICATION") == "1" else "stopped on the replicas",
        "prepare": "tables dropped and re-created before every workload/mode/threads cell",
    }
    targets = read_tsv(os.path.join(work, "targets.tsv"),
                       ["name", "kind", "port", "pid", "prepare_group", "prepare_port", "extra_args", "description"])
    for t in targets:
        t["port"], t["prepare_port"] = int(t["port"]), int(t["prepare_port"])
        t["pid"] = int(t["pid"]) if t["pid"] not in ("", "-") else None
        t["extra_args"] = t["extra_args"].split() if t["extra_args"] not in ("", "-") else []
    skipped = read_tsv(os.path.join(work, "skipped.tsv"), ["target", "reason"])
    backend = {"pids": [int(p) for p in env.get("BENCH_BACKEND_PIDS", "").split()],
               "sockets": {"ds0": [env["BENCH_DS0_SOCKET"]] if env.get("BENCH_DS0_SOCKET") else [],
                           "sharded": [env[k] for k in ("BENCH_DS0_SOCKET", "BENCH_DS1_SOCKET") if env.get(k)]}}
    doc = {
        "meta": collect_meta(env), "config": cfg,
        "targets": [{k: t[k] for k in ("name", "kind", "port", "description", "extra_args")} for t in targets],
        "skipped": skipped, "runs": [], "prepares": [],
    }
    doc["meta"]["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def save():
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, out_path)

    cells = [(w, m, t) for w in cfg["workloads"] for m in cfg["modes"] for t in cfg["threads"]]
    total = len(cells) * cfg["rounds"] * len(targets)
    done = 0
    t_start = time.time()
    for (workload, mode, threads) in cells:
        # Each cell starts from freshly prepared tables (oltp_insert grows them, the write workloads change
        # them); within a cell the targets run interleaved, so drift hits them alike.
        t0 = time.time()
        for tgt in {t["prepare_group"]: t for t in targets}.values():
            prepare(cfg, tgt, backend["sockets"].get(tgt["prepare_group"], []))
        doc["prepares"].append({"cell": [workload, mode, threads], "seconds": round(time.time() - t0, 2)})
        for rnd in range(1, cfg["rounds"] + 1):
            for tgt in targets:
                done += 1
                run = {"workload": workload, "mode": mode, "threads": threads, "round": rnd, "target": tgt["name"]}
                # Warm-up: a short discarded run (sysbench 1.0.20 has no --warmup-time).
                if cfg["warmup"] > 0:
                    cmd = sysbench_cmd(cfg, workload, tgt["port"], mode, threads, cfg["warmup"], tgt["extra_args"])
                    rc, out, _ = run_sysbench(cmd, cfg["warmup"] + 120)
                    if rc != 0:
                        run["warmup_failed"] = {"rc": rc, "output": out[-8000:]}
                pid = tgt.get("pid")
                cmd = sysbench_cmd(cfg, workload, tgt["port"], mode, threads, cfg["time"],
                                   tgt["extra_args"] + ["--histogram=on", "--percentile=95"])
                c0, b0, h0, k0 = proc_cpu_s(pid), proc_cpu_s(backend["pids"]), host_cpu_s(), children_cpu_s()
                rc, out, wall = run_sysbench(cmd, cfg["time"] + 180)
                c1, b1, h1, k1 = proc_cpu_s(pid), proc_cpu_s(backend["pids"]), host_cpu_s(), children_cpu_s()
                run.update(parse_sysbench(out))
                run["rc"] = rc
                run["ok"] = rc == 0 and run["queries"] is not None
                run["wall_s"] = round(wall, 3)
                run["command"] = " ".join(cmd)
                q = run["queries"] or 0
                cpu = {"proxy": (c0, c1), "backend": (b0, b1)}
                for who, (a, b) in cpu.items():
                    if a is not None and b is not None:
                        run[f"{who}_cpu_s"] = round(b - a, 3)
                        run[f"{who}_cpu_us_per_query"] = round((b - a) * 1e6 / q, 2) if q else None
                run["client_cpu_s"] = round(k1 - k0, 3)
                run["client_cpu_us_per_query"] = round((k1 - k0) * 1e6 / q, 2) if q else None
                run["host_busy_s"] = round(h1[0] - h0[0], 3)
                run["host_capacity_s"] = round(h1[1] - h0[1], 3)
                # CPU burnt by anything but sysbench, the proxy and the primaries (compilers, replicas, ...)
                run["other_cpu_s"] = round(run["host_busy_s"] - run.get("proxy_cpu_s", 0)
                                           - run.get("backend_cpu_s", 0) - run["client_cpu_s"], 3)
                if "proxy_cpu_s" in run:
                    run["proxy_cpu_s_per_1k_queries"] = round(run["proxy_cpu_s"] * 1000 / q, 5) if q else None
                    run["proxy_rss_hwm_kb"] = proc_status_kb(pid, "VmHWM")
                    run["proxy_rss_kb"] = proc_status_kb(pid, "VmRSS")
                if pid and c1 is None:
                    run["ok"] = False
                    run["proxy_died"] = True
                if not run["ok"] or run.get("errors") or run.get("reconnects") or "warmup_failed" in run:
                    run["output"] = out[-12000:]
                doc["runs"].append(run)
                save()
                eta = (time.time() - t_start) / done * (total - done)
                status = "ok" if run["ok"] else f"FAILED rc={rc}"
                qps = f"{run['qps']:.0f}" if run.get("qps") is not None else "-"
                p99 = f"{run['p99_ms']}" if run.get("p99_ms") is not None else "-"
                cpu_s = f" proxy_cpu={run['proxy_cpu_us_per_query']}us/q" if run.get("proxy_cpu_us_per_query") else ""
                errs = f" errors={run.get('errors')} reconnects={run.get('reconnects')}"
                log(f"[{done}/{total} eta {eta/60:.0f} min] {workload} ps={mode} t={threads} r{rnd} "
                    f"{tgt['name']}: {status} qps={qps} p99={p99}ms{cpu_s}{errs}")
                if not run["ok"] or "warmup_failed" in run:
                    for line in error_lines(out)[:6]:
                        log(f"    | {line}")
    doc["meta"]["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc["meta"]["bench_seconds"] = round(time.time() - t_start, 1)
    for tgt in targets:
        if tgt.get("pid"):
            doc.setdefault("peak_rss_kb", {})[tgt["name"]] = proc_status_kb(tgt["pid"], "VmHWM")
    save()
    failed = sum(1 for r in doc["runs"] if not r["ok"])
    log(f"{len(doc['runs'])} runs, {failed} failed, in {doc['meta']['bench_seconds']:.0f} s -> {out_path}")
    for s in doc["skipped"]:
        log(f"target {s['target']}: skipped: {s['reason']}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted; the results JSON holds the runs finished so far")
        sys.exit(130)

#!/usr/bin/python3
"""bench/harness's report: reads DIR/meta.json, DIR/cells/*.json (s3lb-bench --json), the wrk
outputs and DIR/mem/*.json, writes DIR/report.md and PNG plots (gnuplot) into DIR.

usage: harness_report.py DIR
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

TITLES = {"get4k": "GET 4 KiB", "get1m": "GET 1 MiB", "get64m": "GET 64 MiB", "put1m": "PUT 1 MiB",
          "mixed": "mixed (45% GET, 30% HEAD, 15% PUT, 10% DELETE; 4 KiB..1 MiB)"}
PROXIES = ["s3lb", "haproxy", "haproxy_splice", "nginx"]
IDLE_GOAL_MIB, SLOW_GOAL_MIB = 64, 256


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, int):
        return f"{v:,}"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def ratio(a, b):
    return a / b if a is not None and b else None


def rfmt(r):
    return "–" if r is None else f"{r:.2f}x"


class Cell:
    """One s3lb-bench run: every target's total figures and its proxy's cost."""

    def __init__(self, name, conc, js):
        self.name, self.conc, self.js = name, conc, js
        self.t = {}
        for t in js["targets"]:
            tot = t["ops"].get("total", {})
            proc = next((p for p in t["processes"] if p["name"] == t["name"]), None)
            if not tot.get("ops"):
                tot = {"mb_per_s": tot.get("mb_per_s"), "errors": tot.get("errors", 0)}  # no op ended
            self.t[t["name"]] = {
                "ops_s": tot.get("ops_per_s"), "mb_s": tot.get("mb_per_s"),
                "p50": tot.get("latency_ms", {}).get("p50"), "p99": tot.get("latency_ms", {}).get("p99"),
                "p999": tot.get("latency_ms", {}).get("p99.9"), "errors": tot.get("errors", 0) +
                t.get("other_errors", 0), "ops": tot.get("ops", 0),
                "cpu_us": proc and proc.get("cpu_us_per_request"),
                "cpu_s_gb": proc and proc.get("cpu_s_per_gb"),
            }


def read_cells(d):
    cells = {}
    for path in glob.glob(os.path.join(d, "cells", "*-c*.json")):
        m = re.match(r"(\w+)-c(\d+)\.json$", os.path.basename(path))
        if not m or m.group(1) not in TITLES:
            continue
        js = load(path)
        if js and js.get("targets"):
            cells[(m.group(1), int(m.group(2)))] = Cell(m.group(1), int(m.group(2)), js)
    return cells


def read_wrk(d):
    """{conc: (wrk ops/s list, s3lb-bench ops/s list)}"""
    res = {}
    for path in sorted(glob.glob(os.path.join(d, "cells", "wrk-c*-r*.txt"))):
        m = re.match(r"wrk-c(\d+)-r(\d+)\.txt$", os.path.basename(path))
        c, r = int(m.group(1)), m.group(2)
        w = re.search(r"Requests/sec:\s*([\d.]+)", open(path).read())
        js = load(os.path.join(d, "cells", f"wrkpeer-c{c}-r{r}.json"))
        if not w or not js:
            continue
        b = js["targets"][0]["ops"]["total"]["ops_per_s"]
        res.setdefault(c, ([], []))
        res[c][0].append(float(w.group(1)))
        res[c][1].append(b)
    return res


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def gnuplot(script, cwd):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write(f"harness_report: gnuplot failed: {getattr(e, 'stderr', e)}\n")
        return False


def plots(d, meta, cells):
    made = []
    concs = sorted({c for (_, c) in cells})
    targets = meta["targets"]
    for name in meta["cells"]:
        rows = [(c, cells[(name, c)]) for c in concs if (name, c) in cells]
        if not rows:
            continue
        big = name in ("get64m", "get1m", "put1m")
        key = "mb_s" if big else "ops_s"
        dat = os.path.join(d, f"plot-{name}.dat")
        with open(dat, "w") as f:
            f.write("# concurrency " + " ".join(targets) + "\n")
            for c, cell in rows:
                f.write(f'"{c}" ' + " ".join(fmt0(cell.t.get(t, {}).get(key)) for t in targets) + "\n")
        png = f"plot-{name}.png"
        cols = ", ".join(f"'{os.path.basename(dat)}' using {i + 2}:xtic(1) title '{t}'"
                         for i, t in enumerate(targets))
        ok = gnuplot(f"""set terminal pngcairo size 800,450 font ',10'
set output '{png}'
set title "{TITLES[name]}: {'MB/s' if big else 'operations/s'} by concurrency (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set key outside right top
set xlabel 'concurrent operations (one connection each)'
set ylabel '{'MB/s' if big else 'ops/s'}'
plot {cols}
""", d)
        if ok:
            made.append((png, TITLES[name]))
    # CPU per request of each proxy, every cell at every concurrency.
    procs = [t for t in targets if t in PROXIES]
    keys = [(n, c) for n in meta["cells"] for c in concs if (n, c) in cells]
    if procs and keys:
        dat = os.path.join(d, "plot-cpu.dat")
        with open(dat, "w") as f:
            f.write("# cell " + " ".join(procs) + "\n")
            for n, c in keys:
                f.write(f'"{n} c{c}" ' + " ".join(fmt0(cells[(n, c)].t.get(p, {}).get("cpu_us")) for p in procs) + "\n")
        cols = ", ".join(f"'plot-cpu.dat' using {i + 2}:xtic(1) title '{p}'" for i, p in enumerate(procs))
        if gnuplot(f"""set terminal pngcairo size 1100,480 font ',10'
set output 'plot-cpu.png'
set title "proxy CPU per request (user + system, microseconds; lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set grid ytics
set xtics rotate by -45
set key outside right top
set ylabel 'CPU-us per request (log scale)'
plot {cols}
""", d):
            made.append(("plot-cpu.png", "proxy CPU per request"))
    return made


def fmt0(v):
    return "0" if v is None else f"{v:.6g}"


def goal_rows(meta, cells, wrk, mem):
    """(goal, measured, verdict) rows; a verdict is 'met' or 'NOT MET' or 'not measured'."""
    rows = []

    def verdict(ok):
        return "not measured" if ok is None else ("met" if ok else "**NOT MET**")

    for c, (w, b) in sorted(wrk.items()):
        r = ratio(mean(b), mean(w))
        rows.append((f"s3lb-bench ≥ 0.9x wrk, GET 4 KiB static backend, {c} connections",
                     f"{fmt(mean(b))} vs {fmt(mean(w))} ops/s = {rfmt(r)}", verdict(None if r is None else r >= 0.9)))
    # (cell, figure, unit, higher is better, bound against HAProxy); against nginx: strictly better.
    checks = [("get4k", "ops_s", "ops/s", True, 1.0), ("get4k", "cpu_us", "CPU-µs per request", False, 1.0),
              ("get4k", "p99", "p99 ms", False, 1.1), ("get64m", "mb_s", "MB/s", True, 0.95),
              ("get64m", "p99", "p99 ms", False, 1.1)]
    concs = sorted({c for (_, c) in cells})
    for peer in ("haproxy", "nginx"):
        for c in concs:
            for name, key, unit, higher, bound in checks:
                cell = cells.get((name, c))
                if not cell or "s3lb" not in cell.t or peer not in cell.t:
                    continue
                s, p = cell.t["s3lb"][key], cell.t[peer][key]
                r = ratio(s, p)
                if peer == "nginx":
                    want, ok = ("> 1.0x" if higher else "< 1.0x"), r is not None and (r > 1.0 if higher else r < 1.0)
                else:
                    want = f"{'≥' if higher else '≤'} {bound}x"
                    ok = r is not None and (r >= bound if higher else r <= bound)
                rows.append((f"s3lb vs {peer}: {TITLES[name]} {unit} {want}, c={c}",
                             f"{fmt(s)} vs {fmt(p)} = {rfmt(r)}", verdict(None if r is None else ok)))
    # large objects against HAProxy's strongest configuration (issue 11's goals)
    for c in concs:
        for name in ("get1m", "get64m"):
            cell = cells.get((name, c))
            if not cell or "s3lb" not in cell.t or "haproxy_splice" not in cell.t:
                continue
            for key, unit, higher, bound in (("cpu_s_gb", "CPU-s per GB", False, 0.8),
                                             ("mb_s", "MB/s", True, 1.05)):
                s, p = cell.t["s3lb"][key], cell.t["haproxy_splice"][key]
                r = ratio(s, p)
                want = f"{'≥' if higher else '≤'} {bound}x"
                ok = r is not None and (r >= bound if higher else r <= bound)
                rows.append((f"s3lb vs haproxy_splice: {TITLES[name]} {unit} {want}, c={c}",
                             f"{fmt(s)} vs {fmt(p)} = {rfmt(r)}", verdict(None if r is None else ok)))
    for mode, goal in (("idle", IDLE_GOAL_MIB), ("slow", SLOW_GOAL_MIB)):
        m = mem.get(("s3lb", mode))
        what = "idle keep-alive connections" if mode == "idle" else "slow readers of 64 MiB"
        if m:
            rss = m["rss_peak_kib"] / 1024
            rows.append((f"s3lb RSS with {m['conns']:,} {what} < {goal} MiB",
                         f"{rss:.1f} MiB", verdict(rss < goal)))
        else:
            rows.append((f"s3lb RSS with {what} < {goal} MiB", "–", verdict(None)))
    return rows


def main():
    d = sys.argv[1]
    meta = load(os.path.join(d, "meta.json"))
    if not meta:
        sys.exit("harness_report: no meta.json")
    cells = read_cells(d)
    wrk = read_wrk(d)
    mem = {}
    for path in glob.glob(os.path.join(d, "mem", "*.json")):
        m = re.match(r"(\w+)-(idle|slow)\.json$", os.path.basename(path))
        js = load(path)
        if m and js:
            mem[(m.group(1), m.group(2))] = js
    made = plots(d, meta, cells)

    L = []
    L.append(f"# s3lb bench harness report, {meta['date']}\n")
    L.append(f"- machine: {meta['cpu']}, {meta['nproc']} CPUs, {meta['mem_gib']} GiB; {meta['os']}, "
             f"kernel {meta['kernel']}; load average at start {' '.join(meta['loadavg'])}")
    L.append(f"- s3lb: {meta['s3lb_version']}, {meta['s3lb_git']}, {meta['build_type']} build")
    L.append(f"- peers: {meta['haproxy_v']}; {meta['nginx_v']}; backends: nginx static files "
             f"(2 addresses, 2 workers) for GET, Ceph {meta['ceph_v']} (3 radosgw, memstore OSD) for PUT/mixed")
    L.append(f"- load: s3lb-bench (1 thread), closed loop, one connection per operation in flight; "
             f"{meta['rounds']} interleaved round(s) of {meta['duration']} per target (warm-up {meta['warmup']}); "
             f"every GET body verified")
    L.append(f"- command: `{meta['cmdline']}`")
    L.append("- everything (load generator, proxy, backend) shares this machine's CPUs: figures are "
             "for comparing the targets within this run, not absolute capacity.\n")

    L.append("## Goals\n")
    L.append("| goal | measured | |")
    L.append("|---|---|---|")
    for g, m, v in goal_rows(meta, cells, wrk, mem):
        L.append(f"| {g} | {m} | {v} |")
    L.append("")

    concs = sorted({c for (_, c) in cells})
    for name in meta["cells"]:
        rows = [(c, cells[(name, c)]) for c in concs if (name, c) in cells]
        if not rows:
            L.append(f"## {TITLES[name]}\n\nnot measured (the run failed: see cells/{name}-c*.txt)\n")
            continue
        L.append(f"## {TITLES[name]}\n")
        L.append("| conc | target | ops/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors | proxy CPU-µs/req | proxy CPU-s/GB | ops/s vs direct | ops/s vs s3lb |")
        L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c, cell in rows:
            base = cell.t.get("direct") or next(iter(cell.t.values()))
            s3 = cell.t.get("s3lb")
            for t in meta["targets"]:
                x = cell.t.get(t)
                if not x:
                    continue
                L.append(f"| {c} | {t} | {fmt(x['ops_s'])} | {fmt(x['mb_s'])} | {fmt(x['p50'])} | {fmt(x['p99'])} | "
                         f"{fmt(x['p999'])} | {x['errors']} | {fmt(x['cpu_us'])} | {fmt(x['cpu_s_gb'])} | "
                         f"{rfmt(ratio(x['ops_s'], base['ops_s']))} | {rfmt(ratio(x['ops_s'], s3 and s3['ops_s']))} |")
        L.append("")

    if wrk:
        L.append("## s3lb-bench against wrk (GET 4 KiB, static backend, 1 thread each)\n")
        L.append("| connections | wrk ops/s (runs) | s3lb-bench ops/s (runs) | ratio of means | median of pair ratios |")
        L.append("|---:|---|---|---:|---:|")
        for c, (w, b) in sorted(wrk.items()):
            pairs = [y / x for x, y in zip(w, b) if x]
            med = statistics.median(pairs) if pairs else None
            L.append(f"| {c} | {', '.join(fmt(v) for v in w)} | {', '.join(fmt(v) for v in b)} | "
                     f"{rfmt(ratio(mean(b), mean(w)))} | {rfmt(med)} |")
        L.append("\nAlternating runs (wrk, then s3lb-bench), before the proxies start. wrk repeats one URL "
                 "with no signing; s3lb-bench signs every request (SigV4), picks one of 100 keys and "
                 "verifies every body.\n")

    if mem:
        L.append("## Memory (RSS of the proxy's processes: for nginx master + worker)\n")
        L.append("| proxy | idle conns | RSS before | RSS with all idle | per conn | slow readers | RSS before | peak RSS | per reader | bytes read per reader (median) |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in PROXIES:
            i, s = mem.get((p, "idle")), mem.get((p, "slow"))
            if not i and not s:
                continue

            def mib(k, x):
                return f"{x[k] / 1024:.1f} MiB" if x else "–"

            def per(x):
                return f"{(x['rss_peak_kib'] - x['rss_before_kib']) / x['conns']:.1f} KiB" if x else "–"
            L.append(f"| {p} | {fmt(i['conns']) if i else '–'} | {mib('rss_before_kib', i)} | {mib('rss_peak_kib', i)} | "
                     f"{per(i)} | {fmt(s['conns']) if s else '–'} | {mib('rss_before_kib', s)} | {mib('rss_peak_kib', s)} | "
                     f"{per(s)} | {fmt(s['body_bytes_median']) if s else '–'} |")
        L.append("\nSlow readers: each connection GETs a 64 MiB object and reads 16 KiB/s with an 8 KiB "
                 "receive buffer; the RSS is the peak over the hold after a 3 s ramp.\n")

    if made:
        L.append("## Plots\n")
        for png, title in made:
            L.append(f"![{title}]({png})\n")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()

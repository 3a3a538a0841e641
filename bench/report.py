#!/usr/bin/env python3
"""Assembles docs/BENCHMARKS.md and the docs/bench-*.png plots from one run of scripts/bench.sh.

Inputs: the run's results (one JSON object per line: the scenario's fields plus the load generator's
output under "result"), the machine description (key=value lines), and the perf reports when the run
profiled the gateway. Every ratio is taken against the baseline measured in the same run.
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys

TARGETS = ["direct", "gateway", "gateway-json", "nginx"]
LABELS = {
    "direct": "direct",
    "gateway": "gateway",
    "gateway-json": "gateway, JSON answers",
    "nginx": "nginx",
}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def machine(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def pct(r):
    return "n/a" if r is None else f"{r * 100:.0f}%"


def met(ok):
    return "**met**" if ok else "**not met**"


class Report:
    def __init__(self, results, info, work, docs):
        self.results = results
        self.info = info
        self.work = work
        self.docs = docs
        self.lines = []

    def echo(self, variant, target, concurrency):
        """The run with the median throughput of the path's rounds (the lower middle of an even count)."""
        runs = [r["result"] for r in self.results
                if r.get("scenario") == "echo" and r.get("variant") == variant and r.get("target") == target
                and r.get("concurrency") == concurrency]
        if not runs:
            return None
        runs.sort(key=lambda run: run["throughput_rps"])
        return runs[(len(runs) - 1) // 2]

    def round_ratios(self, variant, target, baseline, concurrency):
        """Each round's throughput of `target` over `baseline` (run back to back in that round), by round."""
        def by_round(t):
            return {r.get("round", 1): r["result"]["throughput_rps"] for r in self.results
                    if r.get("scenario") == "echo" and r.get("variant") == variant and r.get("target") == t
                    and r.get("concurrency") == concurrency}
        a, b = by_round(target), by_round(baseline)
        return [a[k] / b[k] for k in sorted(a) if k in b and b[k]]

    def paired(self, variant, target, baseline, concurrency):
        """The median of the rounds' ratios (the lower middle of an even count), and the ratios."""
        rs = self.round_ratios(variant, target, baseline, concurrency)
        return (sorted(rs)[(len(rs) - 1) // 2] if rs else None), rs

    def echo_rounds(self):
        return max((r.get("round", 1) for r in self.of("echo")), default=1)

    def of(self, scenario, target=None):
        return [r for r in self.results if r.get("scenario") == scenario and (target is None or r.get("target") == target)]

    def total_errors(self):
        n = 0
        for r in self.results:
            res = r.get("result")
            if isinstance(res, dict) and "errors" in res:
                n += res["errors"]["total"]
        return n

    def w(self, text=""):
        self.lines.append(text)

    # --- sections ---

    def concurrencies(self, variant):
        return sorted({r["concurrency"] for r in self.results if r.get("scenario") == "echo" and r.get("variant") == variant})

    def echo_table(self, variant):
        self.w("| concurrency | path | throughput (req/s) | vs direct | p50 (µs) | p90 (µs) | p99 (µs) | p99.9 (µs) "
               "| added p50 (µs) | added p99 (µs) | errors |")
        self.w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in self.concurrencies(variant):
            base = self.echo(variant, "direct", c)
            for t in TARGETS:
                r = self.echo(variant, t, c)
                if r is None:
                    continue
                lat = r["latency_us"]
                added50 = None if base is None or t == "direct" else lat["p50"] - base["latency_us"]["p50"]
                added99 = None if base is None or t == "direct" else lat["p99"] - base["latency_us"]["p99"]
                vs = "1.00" if t == "direct" else fmt(ratio(r["throughput_rps"], base and base["throughput_rps"]), 2)
                self.w(f"| {c} | {LABELS[t]} | {fmt(r['throughput_rps'])} | {vs} | {fmt(lat['p50'], 1)} | {fmt(lat['p90'], 1)} "
                       f"| {fmt(lat['p99'], 1)} | {fmt(lat['p999'], 1)} | {'—' if added50 is None else fmt(added50, 1)} "
                       f"| {'—' if added99 is None else fmt(added99, 1)} | {r['errors']['total']} |")

    def targets_table(self):
        rows = []
        d1 = self.echo("plain", "direct", 1)
        g1 = self.echo("plain", "gateway", 1)
        added = None if d1 is None or g1 is None else g1["latency_us"]["p50"] - d1["latency_us"]["p50"]
        rows.append(("Added latency at concurrency 1, p50 (gateway − direct)", "≤ 50 µs",
                     "n/a" if added is None else f"{added:.1f} µs", added is not None and added <= 50))
        def with_rounds(r, rs):
            return pct(r) if len(rs) < 2 else f"{pct(r)} (rounds: {', '.join(pct(x) for x in rs)})"
        r, rs = self.paired("plain", "gateway", "direct", 32)
        rows.append(("Throughput at concurrency 32, gateway / direct (median of the rounds' ratios)", "≥ 50%",
                     with_rounds(r, rs), r is not None and r >= 0.5))
        rn, rns = self.paired("plain", "gateway", "nginx", 32)
        rows.append(("Throughput at concurrency 32, gateway / nginx (median of the rounds' ratios)", "≥ 100%",
                     with_rounds(rn, rns), rn is not None and rn >= 1.0))
        idle = self.of("idle", "gateway")
        per = None
        if idle:
            i = idle[0]
            per = (i["rss_after_kb"] - i["rss_before_kb"]) / i["sessions"]
        rows.append(("Memory per idle client session (gateway RSS growth / sessions)", "≤ 16 KiB",
                     "n/a" if per is None else f"{per:.1f} KiB", per is not None and per <= 16))
        agg = self.of("aggregation", "gateway")
        med = agg[0]["result"]["total_ms"]["median"] if agg and "total_ms" in agg[0]["result"] else None
        label = f"{agg[0]['backends']} × {agg[0]['tools_per_backend']}" if agg else "100 × 50"
        rows.append((f"Aggregation {label}: initialize → complete tools/list (median)", "≤ 100 ms",
                     "n/a" if med is None else f"{med:.1f} ms", med is not None and med <= 100))
        errors = self.total_errors()
        rows.append(("Errors, every scenario", "0", str(errors), errors == 0))
        self.w("| target (issue 8) | wanted | measured | |")
        self.w("|---|---:|---:|---|")
        for name, want, got, ok in rows:
            self.w(f"| {name} | {want} | {got} | {met(ok)} |")
        if added is not None and added < 0:
            self.w()
            self.w(f"The added latency is negative: the gateway's median run at concurrency 1 answered sooner than the "
                   f"backend's own median run ({fmt(g1['latency_us']['p50'], 1)} vs {fmt(d1['latency_us']['p50'], 1)} µs). "
                   "At concurrency 1 most of a call's time on this VM is waking processes that sleep between calls; "
                   "the gateway's threads poll for 50 µs before they sleep (`--busy-poll-us`), which likely keeps a core "
                   "from idling and makes the wake-ups cheaper for the whole chain. Read it as no measurable added latency.")
        return rows

    def aggregation(self):
        self.w("| what | backends × tools | tools listed | initialize (median ms) | initialize → full tools/list: "
               "median | min | max (ms) | errors |")
        self.w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in self.of("aggregation"):
            res = r["result"]
            if "total_ms" not in res:
                continue
            self.w(f"| {r['target']} | {r['backends']} × {r['tools_per_backend']} | {res['tools']} "
                   f"| {fmt(res['initialize_ms']['median'], 2)} | {fmt(res['total_ms']['median'], 2)} "
                   f"| {fmt(res['total_ms']['min'], 2)} | {fmt(res['total_ms']['max'], 2)} | {res['errors']['total']} |")

    def idle(self):
        for r in self.of("idle", "gateway"):
            res = r["result"]
            delta = r["rss_after_kb"] - r["rss_before_kb"]
            self.w("| sessions opened | time to open | gateway RSS before | after | growth | per session | errors |")
            self.w("|---:|---:|---:|---:|---:|---:|---:|")
            self.w(f"| {res['opened']:,} | {res['open_s']:.1f} s | {r['rss_before_kb'] / 1024:.1f} MiB "
                   f"| {r['rss_after_kb'] / 1024:.1f} MiB | {delta / 1024:.1f} MiB "
                   f"| {delta / r['sessions']:.1f} KiB | {res['errors']['total']} |")

    def ramp(self):
        summaries = {r["target"]: r for r in self.of("ramp-summary")}
        if not summaries:
            return
        d = summaries.get("direct", {}).get("sustainable_rps")
        g = summaries.get("gateway", {}).get("sustainable_rps")
        self.w("| path | highest sustainable rate (p99 ≤ 5 ms, ≥ 95% served, no errors) | first failing rate | vs direct |")
        self.w("|---|---:|---:|---:|")
        for t in ("direct", "gateway"):
            s = summaries.get(t)
            if s:
                vs = "1.00" if t == "direct" else fmt(ratio(g, d), 2)
                self.w(f"| {t} | {fmt(s['sustainable_rps'])} req/s | {fmt(s['failing_rps'])} req/s | {vs} |")
        self.w()
        self.w("Every step (open loop, latency from the scheduled send time):")
        self.w()
        self.w("| path | offered (req/s) | served (req/s) | p50 (µs) | p99 (µs) | p99.9 (µs) | errors |")
        self.w("|---|---:|---:|---:|---:|---:|---:|")
        for r in sorted(self.of("ramp"), key=lambda r: (r["target"], r["rate"])):
            res = r["result"]
            lat = res["latency_us"]
            self.w(f"| {r['target']} | {fmt(r['rate'])} | {fmt(res['throughput_rps'])} | {fmt(lat['p50'], 1)} "
                   f"| {fmt(lat['p99'], 1)} | {fmt(lat['p999'], 1)} | {res['errors']['total']} |")

    def exchange_run(self, target, concurrency):
        for r in self.of("token-exchange", target):
            if r.get("concurrency") == concurrency:
                return r["result"]
        return None

    def exchange_concurrencies(self):
        return sorted({r["concurrency"] for r in self.of("token-exchange")})

    def exchange_per_1000(self, c):
        counts = {r["concurrency"]: r for r in self.of("token-exchange-counts")}.get(c)
        if not counts or not counts["tool_calls"]:
            return None
        return 1000 * counts["exchanges"] / counts["tool_calls"]

    def first_session_ms(self, phase, key="initialize_ms"):
        v = [r["result"][key]["median"] for r in self.of("exchange-first-session")
             if r.get("phase") == phase and key in r["result"]]
        return v

    def exchange_summary(self):
        cs = self.exchange_concurrencies()
        if not cs:
            return "**not measured in this run**"
        c = cs[-1]
        per = self.exchange_per_1000(c)
        a, x = self.exchange_run("gateway-anonymous", c), self.exchange_run("gateway-token-exchange", c)
        p50 = ratio(x and x["latency_us"]["p50"], a and a["latency_us"]["p50"])
        new, cached = self.first_session_ms("new-token"), self.first_session_ms("cached-token")
        cold = "" if not new or not cached else (
            f"; a new token's first session (its exchange) {statistics.median(new) - statistics.median(cached):+.1f} ms")
        return (f"{'n/a' if per is None else f'{per:.2f}'} exchanges per 1,000 calls at concurrency {c} (one user), "
                f"p50 ×{fmt(p50, 2)} the anonymous gateway's{cold} (see 5)")

    def token_exchange(self):
        cs = self.exchange_concurrencies()
        if not cs:
            self.w("Not measured in this run.")
            return
        counts = {r["concurrency"]: r for r in self.of("token-exchange-counts")}
        self.w("| concurrency | tool calls | token exchanges (gateway / provider) | per 1,000 calls | cache hits "
               "| p50 anonymous / exchange (µs) | p50 ratio (added) | p99 anonymous / exchange (µs) | p99 ratio (added) "
               "| throughput anonymous / exchange (req/s) | errors |")
        self.w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in cs:
            a, x = self.exchange_run("gateway-anonymous", c), self.exchange_run("gateway-token-exchange", c)
            if a is None or x is None:
                continue
            n = counts.get(c, {})
            per = self.exchange_per_1000(c)
            cells = []
            for q in ("p50", "p99"):
                cells.append(f"{fmt(a['latency_us'][q], 1)} / {fmt(x['latency_us'][q], 1)}")
                cells.append(f"{fmt(ratio(x['latency_us'][q], a['latency_us'][q]), 2)} "
                             f"({x['latency_us'][q] - a['latency_us'][q]:+,.1f} µs)")
            self.w(f"| {c} | {fmt(n.get('tool_calls'))} | {fmt(n.get('exchanges'))} / {fmt(n.get('idp_exchanges'))} "
                   f"| {'n/a' if per is None else f'{per:.3f}'} | {fmt(n.get('cache_hits'))} | {' | '.join(cells)} "
                   f"| {fmt(a['throughput_rps'])} / {fmt(x['throughput_rps'])} "
                   f"| {a['errors']['total'] + x['errors']['total']} |")
        phases = [("anonymous", "anonymous gateway"),
                  ("cached-token", "token exchange, the token already exchanged (cache hit)"),
                  ("new-token", "token exchange, a new token (validated, then exchanged)")]
        rows = [(label, self.first_session_ms(phase), self.first_session_ms(phase, "total_ms"),
                 sum(r["result"]["errors"]["total"] for r in self.of("exchange-first-session") if r.get("phase") == phase))
                for phase, label in phases]
        if not any(r[1] for r in rows):
            return
        self.w()
        self.w("The cold path: one session per new user token (`initialize` → `tools/list`, each on a new connection), "
               "then one more with the same token, then one on the anonymous gateway. The exchange happens while the "
               "session's `initialize` opens the backend session.")
        self.w()
        self.w("| session | sessions | initialize: median | min | max (ms) | initialize → tools/list: median (ms) | errors |")
        self.w("|---|---:|---:|---:|---:|---:|---:|")
        for label, init, total, errors in rows:
            if not init:
                continue
            self.w(f"| {label} | {len(init)} | {fmt(statistics.median(init), 2)} | {fmt(min(init), 2)} | {fmt(max(init), 2)} "
                   f"| {fmt(statistics.median(total), 2) if total else 'n/a'} | {errors} |")
        summary = self.of("exchange-first-session-summary")
        if summary:
            s = summary[0]
            self.w()
            new, cached = rows[2][1], rows[1][1]
            cost = (f" A new token's first session took {statistics.median(new) - statistics.median(cached):,.2f} ms "
                    "longer than the same token's next one (medians): the cost of the exchange on the cold path."
                    if new and cached else "")
            self.w(f"Token exchanges during these sessions: {s['exchanges']} by the gateway, {s['idp_exchanges']} at the "
                   f"provider, for {s['tokens']} new tokens.{cost}")

    def profile(self):
        done = False
        for c in (32, 256):
            if self.profile_at(c):
                done = True
        if not done:
            self.w("Not profiled in this run (perf unavailable or refused).")

    def profile_at(self, c):
        dso = os.path.join(self.work, f"perf-{c}-dso.txt")
        sym = os.path.join(self.work, f"perf-{c}-sym.txt")
        children = os.path.join(self.work, f"perf-{c}-children.txt")
        if not all(os.path.exists(p) for p in (dso, sym, children)):
            return False
        load = os.path.join(self.work, f"profile-load-{c}.json")
        rps = ""
        try:
            with open(load) as f:
                rps = f" (the gateway served {json.loads(f.read().strip().splitlines()[-1])['throughput_rps']:,.0f} req/s meanwhile)"
        except (OSError, ValueError, KeyError, IndexError):
            pass
        self.w(f"### Closed loop at concurrency {c}{rps}")
        self.w()
        self.w("CPU samples of the gateway process (`perf record -F 999 -g`, 5 s).")
        self.w()
        rows = []
        for line in open(dso):
            m = re.match(r"\s+([\d.]+)%\s+(\S+)", line)
            if m:
                rows.append((float(m.group(1)), m.group(2)))
        syms = []
        for line in open(sym):
            m = re.match(r"\s+([\d.]+)%\s+\[(.)\]\s+(.*)$", line)
            if m:
                syms.append((float(m.group(1)), m.group(2), m.group(3).strip()))
        incl = []
        for line in open(children):
            m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(.*)$", line)
            if m:
                incl.append((float(m.group(1)), m.group(4).strip()))
        groups = [
            ("malloc/free (glibc)", r"^(_int_malloc|_int_free|malloc|cfree|free|malloc_consolidate|unlink_chunk|_int_realloc|"
                                    r"realloc|operator new|operator delete|tcache)"),
            ("JSON (nlohmann)", r"nlohmann"),
            ("Asio/Beast machinery", r"boost::"),
            ("gateway and transport code (vmcp::)", r"^vmcp::"),
            ("memcpy/memmove/memcmp/memset", r"^__(mem|str)"),
        ]
        totals = {"kernel (syscalls, TCP, scheduling)": 0.0}
        for name, _ in groups:
            totals[name] = 0.0
        for share, kind, name in syms:
            if kind == "k":
                totals["kernel (syscalls, TCP, scheduling)"] += share
                continue
            for k, pat in groups:
                if re.search(pat, name):
                    totals[k] += share
                    break
        self.w("| self time, by object | | self time, by kind of code | |")
        self.w("|---|---:|---|---:|")
        kinds = sorted(totals.items(), key=lambda kv: -kv[1])
        for i in range(max(len(rows[:5]), len(kinds))):
            left = f"`{rows[i][1]}` | {rows[i][0]:.1f}%" if i < min(5, len(rows)) else " | "
            right = f"{kinds[i][0]} | {kinds[i][1]:.1f}%" if i < len(kinds) else " | "
            self.w(f"| {left} | {right} |")
        self.w()
        paths = [
            ("socket writes (`sendmsg`; on loopback this includes the peer's TCP receive work)", r"^__libc_sendmsg$|^__send$|^send$|^__libc_send$"),
            ("socket reads (`recvmsg`/`recv`)", r"^__libc_recvmsg$|^__libc_recv$|^recv$|^__recv$"),
            ("all system calls", r"^entry_SYSCALL_64_after_hwframe$"),
            ("`epoll_wait`", r"^epoll_wait$"),
            ("`co_spawn` of a coroutine per call (routing, the SSE answer)", r"^boost::asio::detail::co_spawn_entry_point"),
            ("waiting on two things at once (`||`: call done or cancelled, pool, timeouts)", r"parallel_group_op_handler"),
            ("channels handing results between coroutines", r"channel_handler"),
            ("the gateway's request handling (`HandlePost`, all it calls)", r"::HandlePost$"),
            ("the backend call (`StreamableBackend::Post`)", r"StreamableBackend::Post$"),
            ("JSON parsing", r"^nlohmann::.*detail::parser<"),
            ("logging", r"Logger::"),
        ]
        self.w("Inclusive share (the frame and everything it calls) of selected paths; they overlap:")
        self.w()
        self.w("| path | share |")
        self.w("|---|---:|")
        for label, pat in paths:
            best = max((share for share, name in incl if re.search(pat, name)), default=None)
            if best is not None:
                self.w(f"| {label} | {best:.1f}% |")
        self.w()
        self.w("<details><summary>Top symbols by self time</summary>")
        self.w()
        self.w("| share | symbol |")
        self.w("|---:|---|")
        for share, kind, name in syms[:15]:
            short = name if len(name) <= 100 else name[:97] + "..."
            short = short.replace("|", "\\|")
            self.w(f"| {share:.1f}% | `{short}` |")
        self.w()
        self.w("</details>")
        self.w()
        return True

    def syscalls(self):
        counts = {}
        for accept in ("both", "json"):
            path = os.path.join(self.work, f"strace-{accept}.txt")
            if not os.path.exists(path):
                continue
            calls = {}
            for line in open(path):
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
                if m and m.group(2) != "total":
                    calls[m.group(2)] = int(m.group(1))
            counts[accept] = calls
        if not counts:
            self.w("Not measured in this run (strace unavailable).")
            return
        # 2,000 tools/call plus initialize and notifications/initialized.
        n = 2002
        names = sorted({k for c in counts.values() for k, v in c.items() if v >= n / 10},
                       key=lambda k: -max(c.get(k, 0) for c in counts.values()))
        self.w("| system call | per call, SSE answers (what MCP clients get) | per call, JSON answers |")
        self.w("|---|---:|---:|")
        for k in names:
            cells = [f"{counts[a].get(k, 0) / n:.1f}" if a in counts else "n/a" for a in ("both", "json")]
            self.w(f"| `{k}` | {cells[0]} | {cells[1]} |")

    # --- plots ---

    def plots(self):
        made = []
        os.makedirs(self.docs, exist_ok=True)
        dat = os.path.join(self.work, "plot")
        os.makedirs(dat, exist_ok=True)
        present = [t for t in TARGETS if any(r.get("target") == t for r in self.of("echo"))]
        for variant in ("plain", "tls"):
            with open(os.path.join(dat, f"echo-{variant}.dat"), "w") as f:
                f.write("# conc " + " ".join(f"{t}_rps {t}_p50 {t}_p99" for t in present) + "\n")
                for c in self.concurrencies(variant):
                    vals = []
                    for t in present:
                        r = self.echo(variant, t, c)
                        if r is None:
                            vals += ["NaN"] * 3
                        else:
                            vals += [str(r["throughput_rps"]), str(r["latency_us"]["p50"]), str(r["latency_us"]["p99"])]
                    f.write(f"{c} " + " ".join(vals) + "\n")
        titles = " ".join(f'"{LABELS[t]}"' for t in present)

        n = max(len(self.concurrencies("plain")), 1)

        def bars(col, title, ylabel, logy):
            script = [f'set title "{title}"', f'set ylabel "{ylabel}"', 'set xlabel "concurrency"',
                      "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.8 border -1",
                      "set key outside right top", "set grid ytics", f"set xrange [-0.5:{n - 0.5}]",
                      "set yrange [0:*]" if not logy else "set logscale y"]
            plot = []
            for i, t in enumerate(present):
                column = 2 + 3 * i + col
                plot.append(f"DATA using {column}:xtic(1) title \"{LABELS[t]}\"")
            return script, "plot " + ", ".join(plot)

        def gp(name, body):
            path = os.path.join(dat, name + ".gp")
            with open(path, "w") as f:
                f.write("set terminal png size 1100,800 font ',11'\n")
                f.write(f"set output '{os.path.join(self.docs, name + '.png')}'\n")
                f.write(body)
            subprocess.run(["gnuplot", path], check=True)
            made.append(name + ".png")

        body = "set multiplot layout 2,1\n"
        for variant, label in (("plain", "plain HTTP backend (gateway in proxy mode)"),
                               ("tls", "TLS backend (gateway in direct mode, CA bundle)")):
            script, plot = bars(0, f"tools/call echo throughput, {label}", "requests/s", False)
            body += "\n".join(script) + "\n" + plot.replace("DATA", f"'{os.path.join(dat, f'echo-{variant}.dat')}'") + "\n"
        body += "unset multiplot\n"
        gp("bench-throughput", body)

        body = "set multiplot layout 2,1\n"
        for col, q in ((1, "p50"), (2, "p99")):
            script, plot = bars(col, f"tools/call echo latency {q}, plain HTTP backend", f"{q} latency (µs, log scale)", True)
            body += "\n".join(script) + "\n" + plot.replace("DATA", f"'{os.path.join(dat, 'echo-plain.dat')}'") + "\n"
        body += "unset multiplot\n"
        gp("bench-latency", body)

        ramp = self.of("ramp")
        if ramp:
            for t in ("direct", "gateway"):
                with open(os.path.join(dat, f"ramp-{t}.dat"), "w") as f:
                    for r in sorted((r for r in ramp if r["target"] == t), key=lambda r: r["rate"]):
                        f.write(f"{r['rate']} {r['result']['latency_us']['p99'] / 1000} {r['result']['latency_us']['p50'] / 1000}\n")
            body = "\n".join([
                'set title "Open-loop ramp: p99 latency vs offered rate (tools/call echo)"',
                'set xlabel "offered rate (requests/s)"', 'set ylabel "latency (ms, log scale)"', "set logscale y",
                "set grid", "set key top left",
                f"plot '{os.path.join(dat, 'ramp-direct.dat')}' using 1:2 with linespoints lw 2 title 'direct p99', "
                f"'{os.path.join(dat, 'ramp-gateway.dat')}' using 1:2 with linespoints lw 2 title 'gateway p99', "
                f"'{os.path.join(dat, 'ramp-direct.dat')}' using 1:3 with linespoints dt 2 title 'direct p50', "
                f"'{os.path.join(dat, 'ramp-gateway.dat')}' using 1:3 with linespoints dt 2 title 'gateway p50', "
                "5 with lines lc rgb 'red' title 'p99 bound (5 ms)'",
            ]) + "\n"
            gp("bench-ramp", body)
        return made

    # --- the document ---

    def build(self):
        info = self.info
        self.w("# Benchmarks")
        self.w()
        self.w("Written by `scripts/bench.sh` (issue 8's load-test harness) from one run; every ratio is against the baseline "
               "measured in that same run. The gateway, the backends, nginx and the load generator all share the machine "
               "below, so absolute numbers move with its load; the ratios are what to compare.")
        self.w()
        self.w("| machine | |")
        self.w("|---|---|")
        self.w(f"| CPU | {info.get('cpu', '?')} |")
        self.w(f"| cores | {info.get('cores', '?')} |")
        self.w(f"| memory | {int(info.get('memory_kb', '0')) / 1024 / 1024:.1f} GiB |")
        self.w(f"| kernel | {info.get('kernel', '?')} |")
        self.w(f"| date | {info.get('date', '?')} |")
        self.w(f"| commit | {info.get('commit', '?')} |")
        self.w(f"| compiler | GCC {info.get('compiler', '?')}, `-O2` (Bazel `-c opt`) |")
        self.w(f"| nginx | {info.get('nginx', '?')} |")
        loads = [r for r in self.results if r.get("scenario") == "loadavg"]
        if loads:
            self.w("| 1-min load average as each scenario started | " +
                   ", ".join(f"{r['at']}: {r['loadavg']}" for r in loads) + " |")
        self.w()
        self.w("## Targets")
        self.w()
        self.targets_table()
        self.w()
        self.w("Scenario 5 (token exchange with the cache: exchanges per 1,000 calls, latency cost of the exchange path; "
               f"no target in issue 8): {self.exchange_summary()}.")
        self.w()
        self.history_table()
        self.w("## Set-up")
        self.w()
        self.w("- **Backend**: `//bench:mcp_backend`, streamable HTTP answered with JSON, on the project's own HTTP server "
               "(threads: one per core; the 100 aggregation backends one each). `tools/call` echoes its `text` argument.")
        self.w("- **Load generator**: `//bench:loadgen` on the project's HTTP client, one thread; each session initializes "
               "once, then loops `tools/call` with unique ids and unique texts, each answer checked (id, echo, `isError`). "
               "It accepts `application/json, text/event-stream` as MCP clients do, so the gateway answers tool calls as SSE "
               "streams; the *gateway, JSON answers* rows send `Accept: application/json` and get plain JSON answers.")
        self.w("- **Gateway**: `vmcp serve` (threads: one per core), the backend in proxy mode (plain `http://` URL) or direct "
               "mode (`type: entry`, `https://` URL, `caBundlePath` of a private CA made for the run); its log output goes "
               "to a file, at the default level.")
        self.w("- **nginx**: Debian's, `worker_processes` = cores, `proxy_pass` to an `upstream` with `keepalive 512`, "
               "HTTP/1.1 upstream, `proxy_buffering off`; for TLS `proxy_ssl_verify on` with the same CA and session reuse.")
        echo = self.of("echo")
        if echo:
            first = echo[0]["result"]
            rounds = self.echo_rounds()
            self.w(f"- Closed loop: {first['warmup_s']:g} s warm-up, then {round(first['elapsed_s'])} s measured per run. "
                   f"At each concurrency the paths run in turn, {rounds} round{'s' if rounds != 1 else ''} of them, so "
                   "that the machine's load drifts over all paths alike; each row is the path's run with the median "
                   "throughput. The targets compare paths round by round (a round's runs follow each other within "
                   "seconds, while the shared machine's speed can change more than the gap between rounds) and take "
                   "the median of those ratios. Latencies from an HDR-style histogram (within 0.8%). *Added* latency = the row's "
                   "percentile minus direct's at the same concurrency.")
        self.w()
        self.w("## 1. tools/call echo: direct vs gateway (proxy mode) vs nginx")
        self.w()
        self.echo_table("plain")
        self.w()
        self.w("![throughput](bench-throughput.png)")
        self.w()
        self.w("![latency](bench-latency.png)")
        self.w()
        self.w("## 2. The same with a TLS backend (gateway in direct mode with a CA bundle)")
        self.w()
        self.w("The client reaches the gateway and nginx over plain HTTP and they reach the backend over TLS; *direct* is "
               "the client over TLS to the backend.")
        self.w()
        self.echo_table("tls")
        self.w()
        self.w("## 3. Aggregation scale: initialize → complete tools/list")
        self.w()
        self.w("A fresh client session per iteration: `initialize` (the gateway initializes every backend), "
               "`notifications/initialized`, then `tools/list` following `nextCursor` to the end.")
        self.w()
        self.aggregation()
        self.w()
        self.w("## 4. Idle client sessions: gateway memory")
        self.w()
        self.w("Sessions opened (`initialize` + `notifications/initialized`, 32 at a time) and held, with one backend "
               "configured (so each client session also holds one backend session). RSS from `/proc/PID/status`, before "
               "(after one warm-up session) and after.")
        self.w()
        self.idle()
        self.w()
        self.w("## 5. Token exchange")
        self.w()
        self.w("A real OpenID provider (`tests/peers/idp.mjs`: oidc-provider with an RFC 8693 token-exchange grant, on "
               "Node) issues user tokens (`client_credentials` of client `alice`); a second gateway validates them "
               "(`incomingAuth: oidc`, RS256 JWTs against the provider's JWKS) and reaches the same echo backend with a "
               "token exchanged for the backend's audience (outgoing `token_exchange`, cached per user token until near "
               "its expiry). Per concurrency: the anonymous gateway, then the token-exchange gateway with a fresh user "
               "token that every session presents (one user), closed loop as in 1. Tool calls (warm-up included), "
               "exchanges and cache hits are the gateway's counters around the run (`toolhive_mcp_tool_calls_total`, "
               "`vmcp_token_exchanges_total`, `vmcp_token_exchange_cache_hits_total`); the provider counts the exchanges "
               "it answered (`/test/stats`). The ratios compare the token-exchange gateway with the anonymous one run "
               "just before it: the price of validating the caller's token and finding the exchanged one in the cache.")
        self.w()
        self.token_exchange()
        self.w()
        self.w("## 6. Open-loop ramp until p99 > 5 ms")
        self.w()
        steps = self.of("ramp")
        if steps:
            first = steps[0]["result"]
            tries = max(sum(1 for r in steps if r["target"] == s["target"] and r["rate"] == s["rate"]) for s in steps)
            self.w(f"{first['concurrency']} sessions, a fixed request rate for {round(first['elapsed_s'])} s (after "
                   f"{first['warmup_s']:g} s warm-up) per step, from {min(r['rate'] for r in steps):,} req/s up ×1.25 per step "
                   "until a step fails, then two bisection steps between the last good and the failing rate. A failing step "
                   f"is tried again before it counts, up to {tries} tries in all here (one stall of the shared machine is not "
                   "the limit); every try is listed. 0 means even the first step failed. The closed-loop throughput "
                   "above is far higher than these rates: the bound here is the p99, which on this shared machine is set "
                   "by scheduling stalls (see the load averages) as much as by the servers.")
        self.w()
        self.ramp()
        self.w()
        if self.of("ramp"):
            self.w("![ramp](bench-ramp.png)")
            self.w()
        self.w("## Where the gateway's time goes")
        self.w()
        self.profile()
        self.w()
        self.w("## System calls per tools/call in the gateway")
        self.w()
        self.w("`strace -f -c` on the gateway while 2,000 calls run at concurrency 1 (strace slows everything; only the "
               "counts matter). Both sides of the gateway are counted: the client's request and answer, the backend's. "
               "The gateway polls for new work for 50 µs before a thread sleeps (`--busy-poll-us`), so `epoll_wait` and "
               "`sched_yield` also count those polls: they grow with the time spent waiting, not with the work.")
        self.w()
        self.syscalls()
        self.w()
        self.w("## Reproduce")
        self.w()
        self.w("```sh")
        self.w("scripts/bench.sh           # this report (about 25 minutes)")
        self.w("scripts/bench.sh --smoke   # seconds; fails on any error, never on speed (part of scripts/test.sh)")
        self.w("```")
        return "\n".join(self.lines) + "\n"


def _history(self):
    """Earlier runs (bench/history.json), so the before/after of each optimization stays visible."""
    path = pathlib.Path(__file__).with_name("history.json")
    if not path.exists():
        return
    data = json.loads(path.read_text())
    self.w("## Earlier runs")
    self.w()
    self.w(data.get("note", ""))
    self.w()
    self.w("| run | " + " | ".join(data["columns"]) + " |")
    self.w("|---|" + "---:|" * len(data["columns"]))
    for run in data["runs"]:
        self.w(f"| {run['label']} | " + " | ".join(run["values"]) + " |")
    self.w()


Report.history_table = _history


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--docs", required=True)
    a = ap.parse_args()
    report = Report(load(a.results), machine(a.machine), a.work, a.docs)
    report.plots()
    text = report.build()
    with open(os.path.join(a.docs, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

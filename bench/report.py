#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one `make bench` run into build/bench/report.md and plots.

    bench/report.py BENCHDIR KERNEL...

BENCHDIR holds one directory per kernel (base, patched, mainline) with
source.txt and one roundN/ directory per boot, as bench/guest-bench.sh left
it: regcost.tsv, env.txt and, in round1/, fio.json (optional). Each row's
figure is its best over all rounds. Writes BENCHDIR/report.md, BENCHDIR/*.png (when gnuplot is
installed) and prints the summary (performance targets and the rows they
are read from) on stdout. Exit status 1 when a kernel's results are missing.

All ratios are between kernels measured in the same run, on the same VM
settings: time ratios patched/other below 1 and throughput ratios above 1
mean the patched kernel is faster.
"""
import csv
import glob
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone

LABELS = {"base": "6.1 base", "patched": "6.1 patched", "mainline": "6.12"}
MIB = 1 << 20
GIB = 1 << 30

# The performance targets of the registered-buffer rework, as
# (what, row key, comparison). A row key is (mem, total_bytes, nr_bufs).
TARGETS = [
    ("256 MiB 2 MiB-hugetlb buffer: at most 0.35 of 6.12",
     ("hugetlb2m", 256 * MIB, 1), ("vs", "mainline", 0.35)),
    ("256 MiB THP buffer: at most 0.35 of 6.12",
     ("thp", 256 * MIB, 1), ("vs", "mainline", 0.35)),
    ("256 buffers of 2 MiB hugetlb: at most 0.35 of 6.12",
     ("hugetlb2m", 512 * MIB, 256), ("vs", "mainline", 0.35)),
    *[(f"{what} of 4 KiB anon: no slower than 6.12 (5% noise allowed)",
       ("anon4k", total, nr_bufs), ("vs", "mainline", 1.05))
      for what, total, nr_bufs in (
          ("1 MiB", MIB, 1), ("4 MiB", 4 * MIB, 1),
          ("256 MiB in 1024 buffers", 256 * MIB, 1024))],
    *[(f"{what} of 4 KiB anon: at most 0.8 of 6.12",
       ("anon4k", total, 1), ("vs", "mainline", 0.8))
      for what, total in (("16 MiB", 16 * MIB), ("64 MiB", 64 * MIB),
                          ("256 MiB", 256 * MIB), ("1 GiB", GIB))],
    ("512 vs 256 buffers of 2 MiB hugetlb: at most 2.2x (linear growth)",
     ("hugetlb2m", GIB, 512), ("growth", ("hugetlb2m", 512 * MIB, 256), 2.2)),
]


def human(n):
    for unit, size in (("G", GIB), ("M", MIB), ("K", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def load_regcost(paths):
    """Rows by scenario, in file order, each a dict of the TSV's columns;
    a row measured in several files (rounds) keeps its best register time,
    and "rounds" lists that time from each file."""
    by_scenario = {}
    seen = {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                for col in ("total_bytes", "nr_bufs", "reps", "pause_ms",
                            "reg_best_ns", "reg_median_ns", "unreg_best_ns",
                            "sum_best_ns"):
                    row[col] = int(row[col])
                key = (row["scenario"], row["total_bytes"], row["nr_bufs"])
                old = seen.get(key)
                if old is None:
                    row["rounds"] = [row["reg_best_ns"]]
                    seen[key] = row
                    by_scenario.setdefault(row["scenario"], []).append(row)
                    continue
                old["rounds"].append(row["reg_best_ns"])
                if "MISMATCH" in row["backing"]:
                    old["backing"] = row["backing"]
                if row["reg_best_ns"] < old["reg_best_ns"]:
                    for col in ("reg_best_ns", "reg_median_ns", "bvecs"):
                        old[col] = row[col]
    return by_scenario


def load_fio(path):
    """{job name: read + write bandwidth in MiB/s}, None without a file."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON document.
    data = json.loads(text[text.index("{"):])
    jobs = {}
    for job in data["jobs"]:
        if job.get("error"):
            raise SystemExit(f"report: fio job {job['jobname']} failed "
                             f"(error {job['error']}) in {path}")
        jobs[job["jobname"]] = (job["read"]["bw"] + job["write"]["bw"]) / 1024
    return jobs


def read_kv(path):
    kv = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("\t")
                kv[key] = value
    return kv


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


class Bench:
    def __init__(self, root, kernels):
        self.root = root
        self.kernels = kernels
        self.rows = {}
        self.fio = {}
        self.env = {}
        self.source = {}
        self.rounds = 0
        for k in kernels:
            d = os.path.join(root, k)
            tsvs = sorted(glob.glob(os.path.join(d, "round*", "regcost.tsv")))
            if not tsvs:
                raise SystemExit(f"report: no {d}/round*/regcost.tsv: run "
                                 f"`make bench` (KERNELS=...) for {k} first")
            self.rounds = max(self.rounds, len(tsvs))
            self.rows[k] = load_regcost(tsvs)
            first = os.path.join(d, "round1")
            self.fio[k] = load_fio(os.path.join(first, "fio.json"))
            self.env[k] = read_kv(os.path.join(first, "env.txt"))
            with open(os.path.join(d, "source.txt")) as f:
                self.source[k] = f.read().strip()
        first = kernels[0]
        self.scenarios = list(self.rows[first])

    def row(self, kernel, key):
        """The first row of any scenario with this (mem, total, bufs)."""
        for rows in self.rows[kernel].values():
            for r in rows:
                if (r["mem"], r["total_bytes"], r["nr_bufs"]) == key:
                    return r
        return None

    def others(self):
        """(kernel, label) pairs the patched kernel is compared with."""
        if "patched" not in self.kernels:
            return []
        return [(k, LABELS[k]) for k in ("base", "mainline")
                if k in self.kernels]

    # ---- targets ----

    def targets(self):
        """(what, verdict, detail) for each target the kernels allow."""
        out = []
        for what, key, (kind, ref, limit) in TARGETS:
            if "patched" not in self.kernels:
                break
            mine = self.row("patched", key)
            if kind == "vs":
                if ref not in self.kernels:
                    continue
                theirs = self.row(ref, key)
                name = f"patched/{LABELS[ref]}"
            else:
                theirs = self.row("patched", ref)
                name = f"{human(key[1] // key[2])} x{key[2]} / x{ref[2]}"
            if not mine or not theirs:
                out.append((what, "NOT RUN", "row missing from this run"))
                continue
            r = mine["reg_best_ns"] / theirs["reg_best_ns"]
            ok = r <= limit
            if "MISMATCH" in mine["backing"] + theirs["backing"]:
                verdict = "BACKING MISMATCH"
            else:
                verdict = "met" if ok else "MISSED"
            spread = "; ".join(
                "/".join(f"{t / 1e3:.0f}" for t in row["rounds"])
                for row in (mine, theirs))
            out.append((what, verdict, f"{name} = {r:.2f} (limit {limit}); "
                        f"us per round: {spread}"))
        return out

    # ---- tables ----

    def scenario_table(self, scenario):
        rows = self.rows[self.kernels[0]][scenario]
        head = ["total", "bufs", "each"]
        head += [f"{LABELS[k]} us" for k in self.kernels]
        head += [f"patched/{label}" for _, label in self.others()]
        if "patched" in self.kernels:
            head.append("patched bvecs")
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "---|" * len(head)]
        for r0 in rows:
            key = (r0["mem"], r0["total_bytes"], r0["nr_bufs"])
            got = {k: self.row(k, key) for k in self.kernels}
            cells = [human(key[1]), str(key[2]), human(key[1] // key[2])]
            for k in self.kernels:
                r = got[k]
                if not r:
                    cells.append("-")
                    continue
                mark = " (!)" if "MISMATCH" in r["backing"] else ""
                cells.append(f"{r['reg_best_ns'] / 1e3:.1f}{mark}")
            for k, _ in self.others():
                mine, theirs = got["patched"], got[k]
                cells.append(ratio(mine and mine["reg_best_ns"],
                                   theirs and theirs["reg_best_ns"]))
            if "patched" in self.kernels:
                cells.append(got["patched"]["bvecs"] if got["patched"] else "-")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def fio_table(self):
        kernels = [k for k in self.kernels if self.fio[k] is not None]
        if not kernels:
            return None
        head = ["job"] + [f"{LABELS[k]} MiB/s" for k in kernels]
        others = [(k, label) for k, label in self.others() if k in kernels]
        head += [f"patched/{label}" for _, label in others]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for job in self.fio[kernels[0]]:
            cells = [job] + [f"{self.fio[k].get(job, 0):.0f}" for k in kernels]
            if "patched" in kernels:
                mine = self.fio["patched"].get(job)
                cells += [ratio(mine, self.fio[k].get(job)) for k, _ in others]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    # ---- plots ----

    def plots(self):
        """Register time vs size (sweeps) and vs count (splits), PNGs."""
        if not shutil.which("gnuplot"):
            return ["gnuplot is not installed (`scripts/install-deps.sh "
                    "--bench`): no plots."]
        made = []
        for kind, xcol, xlabel in (("sweep", "total_bytes", "buffer size (MiB)"),
                                   ("split", "nr_bufs", "number of buffers (256 MiB in total)")):
            panels = [s for s in self.scenarios if s.endswith("-" + kind)]
            if not panels:
                continue
            png = f"register-vs-{'size' if kind == 'sweep' else 'count'}.png"
            script = [
                "set terminal pngcairo size 1200,900 font ',10'",
                f"set output '{os.path.join(self.root, png)}'",
                f"set multiplot layout 2,2 title 'io\\_uring\\_register\\_buffers(): best of N, {kind}'",
                "set logscale xy", "set grid", "set key top left",
                f"set xlabel '{xlabel}'", "set ylabel 'register time (us)'",
            ]
            for s in panels:
                plots = []
                for k in self.kernels:
                    dat = os.path.join(self.root, k, f"{s}.dat")
                    with open(dat, "w") as f:
                        for r in self.rows[k].get(s, []):
                            x = r[xcol] / MIB if xcol == "total_bytes" else r[xcol]
                            f.write(f"{x} {r['reg_best_ns'] / 1e3}\n")
                    plots.append(f"'{dat}' using 1:2 with linespoints title '{LABELS[k]}'")
                script.append(f"set title '{s}'")
                script.append("plot " + ", ".join(plots))
            script.append("unset multiplot")
            subprocess.run(["gnuplot"], input="\n".join(script), text=True,
                           check=True)
            made.append(f"![{png}]({png})")
        return made

    # ---- the report ----

    def header(self):
        reps = sorted({r["reps"] for k in self.kernels
                       for rows in self.rows[k].values() for r in rows})
        pauses = sorted({r["pause_ms"] for k in self.kernels
                         for rows in self.rows[k].values() for r in rows})
        env = self.env[self.kernels[0]]
        lines = [
            "# regbuf benchmark report",
            "",
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
            "`make bench`; every kernel below ran in this one run.",
            "",
            "| kernel | source | uname -r |",
            "|---|---|---|",
        ]
        for k in self.kernels:
            lines.append(f"| {LABELS[k]} | {self.source[k]} | "
                         f"{self.env[k].get('kernel', '?')} |")
        lines += [
            "",
            "- Config: the production flavour of each, built alike: tinyconfig"
            " + kvm_guest.config + kernel/regbuf.config + kernel/VERSION.config"
            " (scripts/build-kernel.sh).",
            f"- VM: qemu TCG (emulated CPU, no KVM), {env.get('cpus', '?')} "
            f"vCPUs, {env.get('memory', '?')}, THP `{env.get('thp', '?')}`, "
            f"{env.get('hugepages_2m', '?')} x 2 MiB hugepages.",
            f"- Repetitions per row: {', '.join(map(str, reps))} (after one "
            f"untimed warm-up) in each of {self.rounds} boot(s) per kernel,"
            " booted in turn; figures are the best of them all.",
            f"- regcost arguments: `{env.get('regcost_args') or '(none)'}`;"
            " each timed register follows a pause of"
            f" {' or '.join(map(str, pauses))} ms (-p), the same on every"
            " kernel (bench/README.md, \"Where the time goes\").",
            "- Absolute times are emulated and mean nothing on real hardware:"
            " only ratios between kernels of the same run carry over. Time"
            " ratios patched/X below 1 and throughput ratios above 1 mean the"
            " patched kernel is faster.",
            "- (!) marks a row whose memory was not backed as asked (see the"
            " backing column of that kernel's regcost.tsv).",
        ]
        return lines

    def write(self):
        md = self.header()
        targets = self.targets()
        if targets:
            md += ["", "## Performance targets", "",
                   "| target | verdict | measured |", "|---|---|---|"]
            md += [f"| {w} | {v} | {d} |" for w, v, d in targets]
        md += ["", "## Register cost: io_uring_register_buffers(), best time",
               ""]
        for s in self.scenarios:
            md += [f"### {s}", "", self.scenario_table(s), ""]
        fio = self.fio_table()
        if fio:
            md += ["## Fixed-buffer throughput: fio-jobs/throughput-fixedbufs.fio",
                   "", "Read + write bandwidth of each job.", "", fio, ""]
        md += ["## Plots", ""] + self.plots() + [""]
        path = os.path.join(self.root, "report.md")
        with open(path, "w") as f:
            f.write("\n".join(md))
        return path, targets


def main():
    if len(sys.argv) < 3:
        raise SystemExit("usage: report.py BENCHDIR KERNEL...")
    bench = Bench(sys.argv[1], sys.argv[2:])
    path, targets = bench.write()
    print(f"report: {path}")
    for what, verdict, detail in targets:
        print(f"  {verdict:>8}  {what}: {detail}")
    for s in ("hugetlb2m-sweep", "thp-sweep", "anon4k-sweep",
              "hugetlb2m-256m", "thp-256m"):
        if s in bench.scenarios:
            print(f"\n{s} (register best, us):")
            print(bench.scenario_table(s))


if __name__ == "__main__":
    main()

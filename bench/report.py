#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one `make bench` run into build/bench/report.md and plots.

    bench/report.py BENCHDIR KERNEL...

BENCHDIR holds one directory per kernel (base, patched, mainline) with
source.txt, one roundN/ directory per wall-clock boot and, when the run had
one, icount/ (a boot under qemu -icount, whose clock counts instructions),
each as bench/guest-bench.sh left it: regcost.tsv, env.txt, fio.json.

Every figure is a median, and every ratio comes with its spread:
- wall clock: a row's figure in one boot is the median of its repetitions;
  the kernels were booted in turn (base, patched, 6.12, base, ...), and the
  ratio patched/X is taken round by round, then summarised as its median
  and the range over all pairs of rounds;
- icount: one boot per kernel, the median of the repetitions; the clock
  counts instructions, so the figure does not move with the host.
A target is "met" when its whole range is within the limit, "MISSED" when
its whole range is outside, and "inside noise" otherwise. Register cost is
CPU work, which icount measures soundly: where an icount run exists, its
verdict decides and the wall-clock one is shown beside it.

Prints the targets on stdout. Time ratios below 1 and throughput ratios
above 1 mean the patched kernel is faster.
"""
import csv
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from datetime import datetime, timezone

LABELS = {"base": "6.1 base", "patched": "6.1 patched", "mainline": "6.12"}
MIB = 1 << 20
GIB = 1 << 30

# The performance targets, as (what, row key, comparison[, column]). A row
# key is (mem, total_bytes, nr_bufs); a comparison is ("vs", kernel, limit)
# on the time patched/kernel, or ("growth", other row key, limit) on the
# patched kernel's time of the row over the other row's; the column is
# "reg" (register, the default) or "unreg" (unregister; for the update row,
# "reg" is a replacing BUFFERS_UPDATE).
TARGETS = [
    ("256 MiB 2 MiB-hugetlb buffer: at most 0.35 of 6.12",
     ("hugetlb2m", 256 * MIB, 1), ("vs", "mainline", 0.35)),
    ("256 MiB THP buffer: at most 0.35 of 6.12",
     ("thp", 256 * MIB, 1), ("vs", "mainline", 0.35)),
    ("256 buffers of 2 MiB hugetlb: at most 0.35 of 6.12",
     ("hugetlb2m", 512 * MIB, 256), ("vs", "mainline", 0.35)),
    *[(f"{size} {what} buffer: at most 0.05 of 6.12 (folio ranges)",
       (mem, total, 1), ("vs", "mainline", 0.05))
      for mem, what in (("hugetlb2m", "2 MiB-hugetlb"), ("thp", "THP"))
      for size, total in (("256 MiB", 256 * MIB), ("1 GiB", GIB))],
    ("256 buffers of 2 MiB hugetlb: at most 0.10 of 6.12 (folio ranges)",
     ("hugetlb2m", 512 * MIB, 256), ("vs", "mainline", 0.10)),
    ("1 GiB of 1 GiB hugetlb: no dearer than 256 MiB of 2 MiB hugetlb",
     ("hugetlb1g", GIB, 1), ("growth", ("hugetlb2m", 256 * MIB, 1), 1.0)),
    *[(f"{what} of 4 KiB anon: no slower than 6.12 (5% allowed)",
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
    ("register a 4 KiB buffer: at most 1.5x of 6.12",
     ("anon4k", 4096, 1), ("vs", "mainline", 1.5)),
    ("BUFFERS_UPDATE replacing one 4 KiB buffer: at most 1.5x of 6.12",
     ("anon4k", 8192, 2), ("vs", "mainline", 1.5)),
    ("unregister a table of 1 buffer: at most 1.5x of 6.12",
     ("anon4k", 4096, 1), ("vs", "mainline", 1.5), "unreg"),
    ("unregister a table of 1024 buffers: at most 1.5x of 6.12",
     ("anon4k", 256 * MIB, 1024), ("vs", "mainline", 1.5), "unreg"),
]

# A fio job is slower patched than base beyond noise when every patched
# round is below every base round and the median ratio is below this: one
# fio run in this VM is good to about 10% at best.
FIO_SLOWER = 0.9


def human(n):
    for unit, size in (("G", GIB), ("M", MIB), ("K", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def row_name(key):
    mem, total, nr_bufs = key
    return f"{mem} {human(total)}" + (f" x{nr_bufs}" if nr_bufs > 1 else "")


# Rows of one buffer of huge pages, and their folio size: the cost per folio.
FOLIO_ROWS = [((mem, total, 1), 2 * MIB) for mem in ("hugetlb2m", "thp")
              for total in (64 * MIB, 256 * MIB, GIB)] + \
    [(("hugetlb1g", GIB, 1), GIB)]


def load_regcost(path):
    """{(mem, total, bufs): row} of one regcost.tsv, in file order, and the
    scenarios in order."""
    rows, scenarios = {}, []
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for col in ("total_bytes", "nr_bufs", "reps", "pause_ms",
                        "reg_best_ns", "reg_median_ns", "unreg_median_ns"):
                row[col] = int(row[col])
            key = (row["mem"], row["total_bytes"], row["nr_bufs"])
            rows.setdefault(key, row)
            if row["scenario"] not in scenarios:
                scenarios.append(row["scenario"])
    return rows, scenarios


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


class Spread:
    """A ratio measured several times: its range over all pairs of runs
    (values) and its median over the runs made side by side (paired, same
    round; the values themselves when not given)."""

    def __init__(self, values, paired=None):
        self.values = list(values)
        self.paired = list(paired) if paired else self.values

    def __bool__(self):
        return bool(self.values)

    @property
    def median(self):
        return statistics.median(self.paired)

    def __str__(self):
        if not self.values:
            return "-"
        lo, hi = min(self.values), max(self.values)
        if len(self.values) == 1 or hi - lo < 0.005:
            return f"{self.median:.2f}"
        return f"{self.median:.2f} [{lo:.2f}-{hi:.2f}]"

    def verdict(self, limit):
        if not self.values:
            return "NOT RUN"
        if max(self.values) <= limit:
            return "met"
        if min(self.values) > limit:
            return "MISSED"
        return "inside noise"


def ratio_spread(a, b):
    """a/b for two lists of runs, the i-th of each made in the same round;
    a run that is None (not measured) is left out of the pairs."""
    pairs = [(x, y) for x, y in zip(a, b) if x and y]
    a = [x for x in a if x]
    b = [y for y in b if y]
    return Spread([x / y for x in a for y in b],
                  [x / y for x, y in pairs])


class Boot:
    """One guest run of one kernel: its regcost rows, fio jobs, env."""

    def __init__(self, d):
        self.rows, self.scenarios = load_regcost(os.path.join(d, "regcost.tsv"))
        self.fio = None
        for name in ("fio.json", "fio-devices.json"):
            jobs = load_fio(os.path.join(d, name))
            if jobs is not None:
                self.fio = {**(self.fio or {}), **jobs}
        self.env = read_kv(os.path.join(d, "env.txt"))

    def time(self, key, column="reg"):
        row = self.rows.get(key)
        if not row or "MISMATCH" in row["backing"]:
            return None
        return row[f"{column}_median_ns"]


class Bench:
    def __init__(self, root, kernels):
        self.root = root
        self.kernels = kernels
        self.wall, self.icount, self.source = {}, {}, {}
        for k in kernels:
            d = os.path.join(root, k)
            rounds = sorted(glob.glob(os.path.join(d, "round*", "regcost.tsv")),
                            key=lambda p: int(p.split("round")[-1].split("/")[0]))
            if not rounds:
                raise SystemExit(f"report: no {d}/round*/regcost.tsv: run "
                                 f"`make bench` (KERNELS=...) for {k} first")
            self.wall[k] = [Boot(os.path.dirname(p)) for p in rounds]
            ic = os.path.join(d, "icount")
            self.icount[k] = Boot(ic) if os.path.exists(
                os.path.join(ic, "regcost.tsv")) else None
            with open(os.path.join(d, "source.txt")) as f:
                self.source[k] = f.read().strip()
        first = self.wall[kernels[0]][0]
        self.scenarios = first.scenarios
        self.keys = {s: [k for k, r in first.rows.items() if r["scenario"] == s]
                     for s in self.scenarios}
        self.rounds = min(len(b) for b in self.wall.values())
        self.has_icount = all(self.icount[k] for k in kernels)
        self.run = read_kv(os.path.join(root, "run.txt"))

    def previous(self):
        """The run before this one (BENCHDIR/previous, left there by
        bench.sh), on the kernels both ran; None without one."""
        root = os.path.join(self.root, "previous")
        kernels = [k for k in self.kernels
                   if glob.glob(os.path.join(root, k, "round*", "regcost.tsv"))]
        if "patched" not in kernels:
            return None
        return Bench(root, kernels)

    # ---- figures ----

    def wall_us(self, kernel, key):
        times = [b.time(key) for b in self.wall[kernel]]
        times = [t for t in times if t is not None]
        return statistics.median(times) / 1e3 if times else None

    def icount_us(self, kernel, key, column="reg"):
        boot = self.icount[kernel]
        t = boot and boot.time(key, column)
        return t / 1e3 if t else None

    def clock_us(self, kernel, key):
        """Register time on the clock the report decides on: icount when
        every kernel has an icount boot, the wall clock otherwise."""
        if self.has_icount:
            return self.icount_us(kernel, key)
        return self.wall_us(kernel, key)

    def wall_ratio(self, num, den, column="reg"):
        """num/den of times, (kernel, key) each, over all pairs of rounds;
        a pair's time comes from one boot of each kernel."""
        a = [b.time(num[1], column) for b in self.wall[num[0]]]
        b = [b.time(den[1], column) for b in self.wall[den[0]]]
        return ratio_spread(a, b)

    def icount_ratio(self, num, den, column="reg"):
        a = self.icount_us(*num, column)
        b = self.icount_us(*den, column)
        return Spread([a / b] if a and b else [])

    # ---- targets ----

    def targets(self):
        """(what, verdict, detail) for each target the kernels allow."""
        out = []
        if "patched" not in self.kernels:
            return out
        for what, key, (kind, ref, limit), *col in TARGETS:
            column = col[0] if col else "reg"
            if kind == "vs":
                if ref not in self.kernels:
                    continue
                num, den = ("patched", key), (ref, key)
                name = f"patched/{LABELS[ref]}"
            else:
                num, den = ("patched", key), ("patched", ref)
                name = f"{row_name(key)} / {row_name(ref)}"
            wall = self.wall_ratio(num, den, column)
            ic = self.icount_ratio(num, den, column)
            decider = ic if ic else wall
            verdict = decider.verdict(limit)
            detail = f"{name}: icount {ic}, wall {wall} ({wall.verdict(limit)})" \
                if ic else f"{name}: wall {wall}"
            out.append((what, verdict, f"{detail}; limit {limit}"))
        return out

    def against(self, prev, targets):
        """(what, verdict now, verdict before, agreement) for each of this
        run's targets (as targets() gave them) that both runs decided. Two runs agree when their verdicts are the same;
        a target inside noise in either run is called so rather than a
        disagreement, since its range reaches across the limit."""
        before = {what: verdict for what, verdict, _ in prev.targets()}
        out = []
        for what, now, _ in targets:
            if what not in before:
                continue
            if now == before[what]:
                agreement = "same"
            elif "inside noise" in (now, before[what]):
                agreement = "inside noise"
            else:
                agreement = "DIFFERS"
            out.append((what, now, before[what], agreement))
        return out

    def fio_jobs(self):
        """{job: {kernel: [MiB/s per round]}} over the wall rounds."""
        jobs = {}
        for k in self.kernels:
            for b in self.wall[k]:
                for job, bw in (b.fio or {}).items():
                    jobs.setdefault(job, {}).setdefault(k, []).append(bw)
        return jobs

    def fio_verdicts(self, jobs=None):
        """(job, verdict, patched/base spread) for every job run on both,
        of this run's fio_jobs() or of the jobs given."""
        out = []
        for job, by_kernel in (jobs or self.fio_jobs()).items():
            p, b = by_kernel.get("patched"), by_kernel.get("base")
            if not p or not b:
                continue
            ratio = ratio_spread(p, b)
            slower = max(p) < min(b) and ratio.median < FIO_SLOWER
            faster = min(p) > max(b)
            verdict = "SLOWER" if slower else "faster" if faster else "level"
            out.append((job, verdict, ratio))
        return out

    def fio_summary(self, fio, jobs=None):
        """One sentence on the fio verdicts (of this run's fio_jobs() or of
        the jobs given) and how far chance explains them."""
        slower = [j for j, v, _ in fio if v == "SLOWER"]
        # Were the two kernels alike, each of the C(p + b, p) orders of p
        # patched and b base runs would be as likely, and all patched runs
        # below all base runs is one of them.
        jobs = jobs or self.fio_jobs()
        runs = min(len(bws) for by_kernel in jobs.values()
                   for bws in by_kernel.values())
        chance = sum(1 / math.comb(len(jobs[j]["patched"]) + len(jobs[j]["base"]),
                                   len(jobs[j]["patched"]))
                     for j, _, _ in fio)
        text = (f"{len(fio)} fio jobs, {runs} interleaved runs each:"
                f" {len(slower)} slower patched than base beyond noise (every"
                f" patched run below every base run and the median ratio below"
                f" {FIO_SLOWER}){': ' + ', '.join(slower) if slower else ''}.")
        medians = [r.median for _, _, r in fio]
        geomean = math.exp(statistics.mean(math.log(m) for m in medians))
        text += (f" Median ratio patched/base per job {min(medians):.2f} to"
                 f" {max(medians):.2f}, geometric mean {geomean:.2f}.")
        if chance >= 0.5:
            enough = next(n for n in range(2, 20)
                          if len(fio) / math.comb(2 * n, n) < 0.2)
            text += (f" With this many runs, up to {chance:.1f} jobs would"
                     f" come out so by chance alone on two equal kernels: not a"
                     f" verdict (BENCH_ROUNDS={enough} brings that below 0.2).")
        return text

    # ---- tables ----

    def scenario_table(self, scenario):
        head = ["total", "bufs", "each"]
        head += [f"{LABELS[k]} us" for k in self.kernels]
        others = self.others()
        head += [f"patched/{label}" for _, label in others]
        if self.has_icount:
            head += [f"icount patched/{label}" for _, label in others]
        if "patched" in self.kernels:
            head.append("patched bvecs")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key in self.keys[scenario]:
            cells = [human(key[1]), str(key[2]), human(key[1] // key[2])]
            for k in self.kernels:
                us = self.wall_us(k, key)
                cells.append(f"{us:.1f}" if us else "- (!)")
            for k, _ in others:
                cells.append(str(self.wall_ratio(("patched", key), (k, key))))
            if self.has_icount:
                for k, _ in others:
                    cells.append(str(self.icount_ratio(("patched", key),
                                                       (k, key))))
            if "patched" in self.kernels:
                row = self.wall["patched"][0].rows.get(key)
                cells.append(row["bvecs"] if row else "-")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def fio_table(self):
        jobs = self.fio_jobs()
        if not jobs:
            return None
        kernels = [k for k in self.kernels
                   if any(k in by_k for by_k in jobs.values())]
        head = ["job"] + [f"{LABELS[k]} MiB/s" for k in kernels]
        others = [(k, label) for k, label in self.others() if k in kernels]
        head += [f"patched/{label}" for _, label in others]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for job, by_k in jobs.items():
            cells = [job]
            for k in kernels:
                v = by_k.get(k)
                cells.append(f"{statistics.median(v):.0f}" if v else "-")
            for k, _ in others:
                p, o = by_k.get("patched"), by_k.get(k)
                cells.append(str(ratio_spread(p, o)) if p and o else "-")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def folio_table(self):
        """Register time per folio of the one-buffer huge-page rows."""
        rows = [(key, fsize) for key, fsize in FOLIO_ROWS
                if any(self.wall_us(k, key) for k in self.kernels)]
        if not rows:
            return None
        clock = "icount" if self.has_icount else "wall"
        head = ["row", "folios"] + [f"{LABELS[k]} ns/folio ({clock})"
                                    for k in self.kernels]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key, fsize in rows:
            folios = key[1] // fsize
            cells = [row_name(key), str(folios)]
            for k in self.kernels:
                us = self.clock_us(k, key)
                cells.append(f"{us * 1e3 / folios:.0f}" if us else "-")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def folio_split(self):
        """Per call and per folio: a least-squares line through the 64 MiB,
        256 MiB and 1 GiB rows of 2 MiB folios, time = call + folios * folio."""
        clock = "icount" if self.has_icount else "wall"
        head = ["kernel", "memory", f"per call ns ({clock})",
                f"per 2 MiB folio ns ({clock})"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        # unpatched 6.1 rescans the buffer per folio: no line fits it
        for k in [k for k in self.kernels if k != "base"]:
            for mem in ("hugetlb2m", "thp"):
                points = []
                for key, fsize in FOLIO_ROWS:
                    if key[0] != mem:
                        continue
                    us = self.clock_us(k, key)
                    if us:
                        points.append((key[1] // fsize, us * 1e3))
                if len(points) < 2:
                    continue
                n = len(points)
                mx = sum(x for x, _ in points) / n
                my = sum(y for _, y in points) / n
                slope = (sum((x - mx) * (y - my) for x, y in points) /
                         sum((x - mx) ** 2 for x, _ in points))
                lines.append(f"| {LABELS[k]} | {mem} | {my - slope * mx:.0f}"
                             f" | {slope:.0f} |")
        return "\n".join(lines) if len(lines) > 2 else None

    def others(self):
        """(kernel, label) pairs the patched kernel is compared with."""
        if "patched" not in self.kernels:
            return []
        return [(k, LABELS[k]) for k in ("base", "mainline")
                if k in self.kernels]

    # ---- plots ----

    def plots(self):
        """Register time vs size (sweeps) and vs count (splits), PNGs."""
        if not shutil.which("gnuplot"):
            return ["gnuplot is not installed (`scripts/install-deps.sh "
                    "--bench`): no plots."]
        made = []
        clock = "icount" if self.has_icount else "wall clock"
        for kind, xlabel in (("sweep", "buffer size (MiB)"),
                             ("split", "number of buffers (256 MiB in total)")):
            panels = [s for s in self.scenarios if s.endswith("-" + kind)]
            if not panels:
                continue
            png = f"register-vs-{'size' if kind == 'sweep' else 'count'}.png"
            script = [
                "set terminal pngcairo size 1200,900 font ',10'",
                f"set output '{os.path.join(self.root, png)}'",
                f"set multiplot layout 2,2 title 'io\\_uring\\_register\\_buffers(): median, {clock}'",
                "set logscale xy", "set grid", "set key top left",
                f"set xlabel '{xlabel}'", "set ylabel 'register time (us)'",
            ]
            for s in panels:
                plots = []
                # The icount boots run only the quick preset's rows: a
                # panel they do not cover is drawn on the wall clock.
                on_icount = self.has_icount and all(
                    self.icount_us(k, key) for k in self.kernels
                    for key in self.keys[s])
                for k in self.kernels:
                    dat = os.path.join(self.root, k, f"{s}.dat")
                    with open(dat, "w") as f:
                        for key in self.keys[s]:
                            us = self.icount_us(k, key) if on_icount \
                                else self.wall_us(k, key)
                            if us:
                                x = key[1] / MIB if kind == "sweep" else key[2]
                                f.write(f"{x} {us}\n")
                    plots.append(f"'{dat}' using 1:2 with linespoints title '{LABELS[k]}'")
                script.append(f"set title '{s} ({'icount' if on_icount else 'wall clock'})'")
                script.append("plot " + ", ".join(plots))
            script.append("unset multiplot")
            subprocess.run(["gnuplot"], input="\n".join(script), text=True,
                           check=True)
            made.append(f"![{png}]({png})")
        return made

    # ---- the report ----

    def header(self):
        first = self.wall[self.kernels[0]][0]
        env = first.env
        reps = sorted({r["reps"] for r in first.rows.values()})
        pauses = sorted({r["pause_ms"] for r in first.rows.values()})
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
                         f"{self.wall[k][0].env.get('kernel', '?')} |")
        lines += [
            "",
            "- Config: the production flavour of each, built alike: tinyconfig"
            " + kvm_guest.config + kernel/regbuf.config + kernel/VERSION.config"
            " (scripts/build-kernel.sh).",
            f"- Wall clock: qemu TCG (emulated CPU, no KVM), {env.get('cpus', '?')}"
            f" vCPUs, {env.get('memory', '?')}, THP `{env.get('thp', '?')}`;"
            f" {self.rounds} boot(s) per kernel, interleaved; each row the"
            f" median of {', '.join(map(str, reps))} repetitions per boot, each"
            f" timed register {' or '.join(map(str, pauses))} ms after the"
            " previous call. Ratios: median [range over all pairs of boots].",
        ]
        if self.has_icount:
            ic = self.icount[self.kernels[0]].env
            lines.append(
                f"- icount: one boot per kernel under `qemu -icount shift=0,"
                f"sleep=off`, {ic.get('cpus', '?')} vCPU: the guest clock"
                " counts executed instructions (1 ns each) and skips idle"
                " time, so the figures do not move with the host. Sound for"
                " register cost (CPU work); it ignores caches and TLBs, which"
                " real hardware pays for on large memory walks. Targets are"
                " decided on it.")
        if self.run:
            lines.append(f"- This repository at `{self.run.get('commit', '?')}`"
                         f"; the run started {self.run.get('started', '?')}"
                         " UTC.")
        if env.get("regcost_args"):
            lines.append(f"- regcost arguments: `{env['regcost_args']}`.")
        lines += [
            "- Absolute times are emulated and mean nothing on real hardware:"
            " only ratios between kernels of the same run carry over. Time"
            " ratios patched/X below 1 and throughput ratios above 1 mean the"
            " patched kernel is faster.",
            "- `- (!)`: the row's memory was not backed as asked in some boot"
            " (backing column of that kernel's regcost.tsv).",
        ]
        return lines

    def write(self):
        md = self.header()
        targets = self.targets()
        if targets:
            md += ["", "## Performance targets", "",
                   "| target | verdict | measured |", "|---|---|---|"]
            md += [f"| {w} | {v} | {d} |" for w, v, d in targets]
        fio = self.fio_verdicts()
        if fio:
            md += ["", "## Fixed-buffer I/O against 6.1 base", "",
                   self.fio_summary(fio)]
        prev = self.previous()
        agreement = self.against(prev, targets) if prev and targets else []
        against = agreement and self.against_text(prev, agreement)
        if agreement:
            md += ["", "## Against the previous run", "", against, "",
                   "| target | this run | previous run | agreement |",
                   "|---|---|---|---|"]
            md += [f"| {w} | {n} | {b} | {a} |" for w, n, b, a in agreement]
        folios = self.folio_table()
        if folios:
            md += ["", "## Huge pages: register cost per folio", "",
                   "A registration that costs per folio shows the same "
                   "time per folio at every size; one that costs per 4 KiB "
                   "page shows 512 times more for a 1 GiB page than for a "
                   "2 MiB one.", "", folios]
            split = self.folio_split()
            if split:
                md += ["", "What a registration of one buffer of 2 MiB "
                       "folios costs per call and per folio: a line fitted "
                       "through the rows above (a negative or tiny per-call "
                       "figure is within the fit's error; unpatched 6.1, "
                       "quadratic in folios, fits no line).", "", split]
        md += ["", "## Register cost: io_uring_register_buffers(), median",
               ""]
        for s in self.scenarios:
            md += [f"### {s}", "", self.scenario_table(s), ""]
        table = self.fio_table()
        if table:
            md += ["## Fixed-buffer throughput: fio-jobs/throughput-*.fio",
                   "", "Read + write bandwidth of each job, median of the"
                   " runs; ratio median [range over all pairs of runs].", "",
                   table, ""]
        md += ["## Plots", ""] + self.plots() + [""]
        path = os.path.join(self.root, "report.md")
        with open(path, "w") as f:
            f.write("\n".join(md))
        return path, targets, fio, against

    def against_text(self, prev, agreement):
        """One paragraph: which run is compared, how many verdicts agree,
        and the fio jobs each run called slower."""
        differ = [w for w, _, _, a in agreement if a == "DIFFERS"]
        noise = [w for w, _, _, a in agreement if a == "inside noise"]
        text = (f"The run before this one (build/bench/previous/, this"
                f" repository at `{prev.run.get('commit', '?')}`, started"
                f" {prev.run.get('started', '?')} UTC, {prev.rounds} boot(s)"
                f" per kernel): {len(agreement) - len(differ) - len(noise)}"
                f" of {len(agreement)} targets have the same verdict,"
                f" {len(noise)} differ inside noise, {len(differ)} differ"
                f"{': ' + '; '.join(differ) if differ else ''}.")
        # Both runs interleaved their kernels, so their fio runs pool into
        # one sample per kernel, with as many runs as the two have together.
        if not (self.fio_jobs() and prev.fio_jobs()):
            return text
        pooled = {}
        for run in (self, prev):
            for job, by_kernel in run.fio_jobs().items():
                for k, runs in by_kernel.items():
                    pooled.setdefault(job, {}).setdefault(k, []).extend(runs)
        fio = self.fio_verdicts(pooled)
        return f"{text} fio, both runs' boots together: " + \
            self.fio_summary(fio, pooled)


def main():
    if len(sys.argv) < 3:
        raise SystemExit("usage: report.py BENCHDIR KERNEL...")
    bench = Bench(sys.argv[1], sys.argv[2:])
    path, targets, fio, against = bench.write()
    print(f"report: {path}")
    for what, verdict, detail in targets:
        print(f"  {verdict:>12}  {what}: {detail}")
    if against:
        print(f"  against the previous run: {against}")
    if fio:
        slower = [f"{j} {r}" for j, v, r in fio if v == "SLOWER"]
        print(f"  fio, patched vs base: {bench.fio_summary(fio)}")
        if slower:
            print(f"  ratios of those: {'; '.join(slower)}")


if __name__ == "__main__":
    main()

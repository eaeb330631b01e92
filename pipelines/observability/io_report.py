"""`vetted io report RUN`: a run's io_profile.json as one standalone HTML page of charts.

Per stage: bytes read and written (what the code asked for, and what reached the device), MB/s, the share
of wall time waiting on I/O next to the CPU share, and a timeline of the run. Then, where the run has them:
Darshan-style access sizes of our own reads and writes, training accelerator utilisation, checkpoint stall
vs persist. The full numbers follow in a table, and a last section says where each figure comes from.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path
from typing import Any

from pipelines.observability.access import BIN_NAMES
from pipelines.observability.fsio import atomic_write_text
from pipelines.observability.svg import Series, Span, bars, timeline

READ, READ_DEV, WRITE, WRITE_DEV = "#2b6cb0", "#90cdf4", "#c05621", "#fbd38d"
CPU, IO, WALL = "#2f855a", "#c53030", "#a0aec0"
REPORT_FILE = "io_report.html"
TABLE_COLUMNS = (
    ("wall_s", "wall s", "{:.3f}"),
    ("cpu_s", "CPU s", "{:.2f}"),
    ("rchar", "read", "bytes"),
    ("read_bytes", "read (device)", "bytes"),
    ("wchar", "written", "bytes"),
    ("write_bytes", "written (device)", "bytes"),
    ("syscr", "read calls", "{:,}"),
    ("syscw", "write calls", "{:,}"),
    ("fsync_count", "fsyncs", "{:,}"),
    ("fsync_s", "fsync s", "{:.3f}"),
    ("major_faults", "major faults", "{:,}"),
    ("files_opened", "files opened", "{:,}"),
    ("io_share", "I/O share", "{:.1%}"),
    ("items_in", "items in", "{:,}"),
    ("items_out", "items out", "{:,}"),
)


def fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _mbps(x: float) -> str:
    return f"{x:.3g} MB/s"


def _seconds(x: float) -> str:
    return f"{x:.3g} s"


def _cell(value: Any, how: str) -> str:
    if how == "bytes":
        return fmt_bytes(float(value))
    return how.format(value)


def _charts(stages: list[dict[str, Any]], t0: float, cpus: int) -> list[str]:
    names = [s["stage"] for s in stages]
    spans = [Span(s["stage"], s["started_at"] - t0, s["wall_s"], s.get("io_share", 0.0)) for s in stages]
    return [
        timeline("Timeline of the run", spans, color=WALL, io_color=IO, fmt=_seconds),
        bars(
            "Bytes read and written per stage (device = what missed the page cache / reached the disk)",
            names,
            [
                Series("read", READ, [s["rchar"] for s in stages]),
                Series("read from device", READ_DEV, [s["read_bytes"] for s in stages]),
                Series("written", WRITE, [s["wchar"] for s in stages]),
                Series("written to device", WRITE_DEV, [s["write_bytes"] for s in stages]),
            ],
            fmt_bytes,
        ),
        bars(
            "Throughput per stage (bytes asked for over wall time)",
            names,
            [
                Series("read MB/s", READ, [s["read_MB_per_second"] for s in stages]),
                Series("write MB/s", WRITE, [s["write_MB_per_second"] for s in stages]),
            ],
            _mbps,
        ),
        bars(
            "Where the wall time went (CPU counts all threads, in 10 ms ticks: rough under 0.1 s)",
            names,
            [
                Series("CPU share", CPU, [min(s["cpu_share"], cpus) for s in stages]),
                Series("I/O wait share", IO, [s.get("io_share", 0.0) for s in stages]),
            ],
            _pct,
        ),
    ]


def _access_chart(stages: list[dict[str, Any]]) -> list[str]:
    totals = {op: dict.fromkeys(BIN_NAMES, 0) for op in ("read", "write")}
    for s in stages:
        for op, tally in s.get("access", {}).items():
            for name, count in tally["sizes"].items():
                totals[op][name] += count
    if not any(sum(t.values()) for t in totals.values()):
        return []
    shown = [b for b in BIN_NAMES if totals["read"][b] or totals["write"][b]]
    seq = "; ".join(
        f"{s['stage']} {op}s {s['access'][op]['sequential_share']:.0%}"
        for s in stages
        for op in ("read", "write")
        if s.get("access", {}).get(op, {}).get("ops")
    )
    chart = bars(
        "Access sizes of our own reads and writes (Darshan bins, bytes)",
        shown,
        [
            Series("reads", READ, [totals["read"][b] for b in shown]),
            Series("writes", WRITE, [totals["write"][b] for b in shown]),
        ],
        lambda v: f"{v:,.0f}",
    )
    return [chart, f"<p class=note>Sequential accesses (Darshan POSIX_SEQ): {escape(seq)}.</p>"]


def _training_charts(profile: dict[str, Any]) -> list[str]:
    out = []
    trained = [s for s in profile["stages"] if s.get("steps", {}).get("steps")]
    if trained:
        out.append(
            bars(
                "Training accelerator utilisation (DLIO train_au_mean_percentage)",
                [s["stage"] for s in trained],
                [Series("AU %", CPU, [s["train_au_mean_percentage"] for s in trained])],
                lambda v: f"{v:.1f} %",
            )
        )
    saves = profile.get("checkpoints", [])
    if saves:
        labels = [f"#{i + 1} {Path(c['path']).name}" for i, c in enumerate(saves)]
        out.append(
            bars(
                "Checkpoint saves: training stalled vs background persist (write + fsync + rename)",
                labels,
                [
                    Series("stall", IO, [c["stall_s"] for c in saves]),
                    Series("persist", WRITE, [c["persist_s"] for c in saves]),
                ],
                _seconds,
            )
        )
        summary = profile.get("checkpoint_summary", {})
        items = "".join(f"<li><code>{escape(k)}</code>: {v:.4g}</li>" for k, v in summary.items())
        if own := profile.get("checkpoint_io"):  # persists not charged to a stage
            written = fmt_bytes(own["access"]["write"]["bytes"])
            items += (
                f"<li>persists' own I/O not charged to a stage: {own['fsync_count']:,} fsyncs taking "
                f"{own['fsync_s']:.3f} s, {written} written, {own['files_opened']:,} files opened</li>"
            )
        out.append(f"<ul class=note>{items}</ul>")
    return out


def _table(stages: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in TABLE_COLUMNS)
    rows = []
    for s in stages:
        cells = "".join(f"<td>{_cell(s.get(key, 0), how)}</td>" for key, _, how in TABLE_COLUMNS)
        notes = ", ".join(f"{k}={v}" for k, v in s.get("extra", {}).items())
        if s.get("overlapped"):
            notes = ", ".join(filter(None, [notes, "overlapped " + " ".join(s["overlapped"])]))
        rows.append(f"<tr><th>{escape(s['stage'])}</th>{cells}<td>{escape(notes)}</td></tr>")
    return f"<table><tr><th>stage</th>{head}<th>notes</th></tr>{''.join(rows)}</table>"


def _sources(stages: list[dict[str, Any]]) -> str:
    background = sum(s.get("background_io", {}).get("wchar", 0) for s in stages)
    overlapped = sorted(s["stage"] for s in stages if s.get("overlapped"))
    shared = (
        f"<li>{escape(', '.join(overlapped))} ran while other stages (or a checkpoint persist) ran in the "
        "same process: their kernel figures (read, written, device, calls, CPU, faults, I/O wait) include "
        "the others' share; fsyncs, files opened and access sizes are each stage's own.</li>"
        if overlapped
        else ""
    )
    kinds = {s.get("io_wait_source", "instrumented") for s in stages}
    if kinds == {"delayacct"}:
        wait = "I/O wait is the kernel's block-I/O delay accounting for this process's threads."
    else:
        wait = (
            "I/O wait counts only the time inside our own reads, writes and fsyncs (a lower bound: I/O made "
            "inside libraries such as FAISS or pyarrow is missed). Turn on the kernel's delay accounting "
            "(<code>sysctl kernel.task_delayacct=1</code>) to get every block-I/O wait of the process."
        )
    return (
        "<h2>Where the figures come from</h2><ul class=note>"
        "<li>read / written: bytes the code asked for (/proc/self/io rchar, wchar), with the child processes "
        "a stage starts. Children already running when it began (Prefect's API server) are left out: they "
        f"wrote {fmt_bytes(background)} in the background during this run.</li>"
        "<li>device: bytes that reached the block layer (read_bytes, write_bytes); read minus "
        "device read is what the page cache served.</li><li>Reads through mmap (FAISS with mmap, "
        "safetensors) skip read(2): they show as major page faults.</li>"
        f"<li>{wait}</li>{shared}"
        "<li>Files opened counts Python-level opens on the stage's own thread; files opened by native code "
        "are not seen.</li></ul>"
    )


def render_report(profile: dict[str, Any]) -> str:
    stages = profile["stages"]
    t0 = min((s["started_at"] for s in stages), default=profile.get("started_at", 0.0))
    host = profile.get("host", {})
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(profile.get("started_at", t0)))
    read = sum(s["rchar"] for s in stages)
    read_dev = sum(s["read_bytes"] for s in stages)
    written = sum(s["wchar"] for s in stages)
    written_dev = sum(s["write_bytes"] for s in stages)
    fsyncs = sum(s["fsync_count"] for s in stages)
    faults = sum(s["major_faults"] for s in stages)
    facts = [
        ("read", f"{fmt_bytes(read)} ({fmt_bytes(read_dev)} from the device)"),
        ("written", f"{fmt_bytes(written)} ({fmt_bytes(written_dev)} to the device)"),
        ("fsyncs", f"{fsyncs:,} taking {sum(s['fsync_s'] for s in stages):.3f} s"),
        ("major page faults", f"{faults:,}"),
        ("files opened", f"{sum(s.get('files_opened', 0) for s in stages):,}"),
    ]
    parts = [
        f"<h1>I/O report: run {escape(str(profile['run_id']))}</h1>",
        f"<p class=meta>started {started} · {len(stages)} stages · "
        f"{profile.get('total_wall_s', 0.0):.2f} s of stage time · host {host.get('cpus', '?')} CPUs, "
        f"{host.get('memory_GB', '?')} GB memory</p>",
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts) + "</dl>",
        *_charts(stages, t0, int(host.get("cpus") or 1)),
        *_access_chart(stages),
        *_training_charts(profile),
        "<h2>All figures</h2>",
        _table(stages),
        _sources(stages),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>I/O report {escape(str(profile['run_id']))}</title><style>{STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


STYLE = """
body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;color:#1a202c;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}.meta,.note{color:#4a5568;font-size:.9em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
svg{display:block;margin:1.5em 0}table{border-collapse:collapse;font-size:.8em;display:block;overflow-x:auto}
td,th{border:1px solid #e2e8f0;padding:.25em .5em;text-align:right;white-space:nowrap}
tr>th:first-child{text-align:left}
"""


def write_io_report(profile_path: Path, profile: dict[str, Any]) -> Path:
    """Write io_report.html next to the profile it renders."""
    out = profile_path.parent / REPORT_FILE
    atomic_write_text(out, render_report(profile))
    return out

"""`vetted io report`: a run's profile becomes one standalone HTML page whose charts are well-formed SVG."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from pipelines.cli.main import main
from pipelines.observability.fsio import atomic_write_bytes, traced_open
from pipelines.observability.profiler import PROFILE_FILE, RunProfile, find_profile, new_run_dir

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def run(tmp_path):
    """A real run of two stages (write with fsync, then read back) and its profile under runs/."""
    run_id, run_dir = new_run_dir(tmp_path)
    profile = RunProfile(run_id)
    with profile.stage("write <files>") as st:  # a name that needs escaping
        for i in range(4):
            atomic_write_bytes(run_dir / "data" / f"{i}.bin", os.urandom(256 * 1024), recorder=st.io)
        st.items(items_in=4, items_out=4)
    with profile.stage("read") as st:
        for i in range(4):
            with traced_open(run_dir / "data" / f"{i}.bin", recorder=st.io) as fh:
                fh.read()
        st.items(items_in=4, items_out=4)
    profile.write(run_dir / PROFILE_FILE)
    return tmp_path, run_id, run_dir


def test_report_command_renders_svg_charts_of_every_stage(run, capsys):
    work, run_id, run_dir = run
    assert main(["--work-dir", str(work), "io", "report", run_id]) == 0
    out = run_dir / "io_report.html"
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    charts = [ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>") for chunk in html.split("<svg")[1:]]
    titles = [c.find(f"{SVG}text").text for c in charts]
    assert titles[:4] == [
        "Timeline of the run",
        "Bytes read and written per stage (device = what missed the page cache / reached the disk)",
        "Throughput per stage (bytes asked for over wall time)",
        "Where the wall time went (CPU counts all threads, in 10 ms ticks: rough under 0.1 s)",
    ]
    assert any(t.startswith("Access sizes") for t in titles)
    timeline_labels = [t.text for t in charts[0].iter(f"{SVG}text")]
    assert "write <files>" in timeline_labels and "read" in timeline_labels
    bars = [r for r in charts[1].iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 2 * 4  # two stages x (read, device read, written, device write)
    assert "write &lt;files&gt;" in html


def test_runs_are_found_by_id_folder_file_or_latest(run):
    work, run_id, run_dir = run
    expected = run_dir / PROFILE_FILE
    for given in (run_id, str(run_dir), str(expected), "latest"):
        assert find_profile(given, work) == expected
    with pytest.raises(FileNotFoundError, match="no I/O profile"):
        find_profile("no-such-run", work)


def test_the_report_says_which_stages_shared_their_kernel_figures(tmp_path):
    from pipelines.observability.io_report import render_report

    profile = RunProfile("t")
    with profile.stage("outer") as st:
        atomic_write_bytes(tmp_path / "a.bin", b"x" * 100, recorder=st.io)
        with profile.stage("inner"):
            pass
    with profile.stage("alone"):
        pass
    html = render_report(profile.to_dict())
    assert "inner, outer ran while other stages" in html
    assert "overlapped inner" in html and "overlapped outer" in html and "overlapped alone" not in html

"""`python -m eval.bench.score_pool`: bad flags are refused before any corpus is read or pool started (the
timings themselves are the benchmark's, never asserted here)."""

from __future__ import annotations

import pytest

from eval.bench import score_pool


@pytest.mark.parametrize(
    "argv", [["--workers", "1"], ["--copies", "0"], ["--reps", "0"], ["--workers", "two"]]
)
def test_bad_flags_exit_2_with_a_message(argv, capsys, monkeypatch) -> None:
    monkeypatch.setattr(score_pool.common, "corpus", lambda _: pytest.fail("read a corpus on bad flags"))
    with pytest.raises(SystemExit) as exit_:
        score_pool.main(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err

"""qa.progress: bars on a terminal by default, and in logs when asked for."""

from __future__ import annotations

import pytest

from qa.progress import progress_bar

pytestmark = pytest.mark.unit


def run_bar(show: bool | None) -> None:
    for _ in progress_bar(range(3), show=show, desc="embedding", unit="chunk"):
        pass


def test_progress_asked_for_is_shown_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    run_bar(True)  # pytest's captured stderr is not a terminal
    err = capsys.readouterr().err
    assert "embedding" in err and "3/3" in err


@pytest.mark.parametrize("show", [None, False])
def test_progress_by_default_stays_out_of_logs(capsys: pytest.CaptureFixture[str], show: bool | None) -> None:
    run_bar(show)
    assert capsys.readouterr().err == ""

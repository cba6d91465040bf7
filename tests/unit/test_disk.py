"""A worker's disk is trusted only after a clean stop (streams.disk)."""

import pytest

from streams.disk import RUNNING, trusted_disk


def _run(datadir, status):
    with pytest.raises(SystemExit), trusted_disk(datadir) as disk:
        (disk / "tables").mkdir(exist_ok=True)
        raise SystemExit(status)


def test_a_clean_stop_keeps_the_tables_for_the_next_start(tmp_path):
    _run(tmp_path / "w", 0)
    assert not (tmp_path / "w" / RUNNING).exists()
    with trusted_disk(tmp_path / "w") as disk:
        assert (disk / "tables").exists()
        assert (disk / RUNNING).exists()


@pytest.mark.parametrize("status", [1, 71])
def test_a_crash_leaves_the_mark_and_the_next_start_rebuilds(tmp_path, status):
    _run(tmp_path / "w", status)
    assert (tmp_path / "w" / RUNNING).exists()
    with trusted_disk(tmp_path / "w") as disk:
        assert not (disk / "tables").exists()


def test_a_kill_leaves_the_mark_and_the_next_start_rebuilds(tmp_path):
    killed = trusted_disk(tmp_path / "w")
    (killed.__enter__() / "tables").mkdir()  # never exits: as if SIGKILLed
    with trusted_disk(tmp_path / "w") as disk:
        assert not (disk / "tables").exists()

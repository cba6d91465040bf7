from streams.transport import head_unacknowledged


def test_a_run_starting_at_the_committed_offset_may_be_committed():
    assert not head_unacknowledged([89, 90, 91], 89, gap_at_head=False)


def test_a_run_starting_one_past_the_committed_offset_may_not():
    """Faust's own check lets exactly this one through."""
    assert head_unacknowledged([90, 91], 89, gap_at_head=False)
    assert head_unacknowledged([5], 0, gap_at_head=False)


def test_a_gap_faust_noted_at_the_committed_offset_accounts_for_it():
    assert not head_unacknowledged([90, 91], 89, gap_at_head=True)


def test_nothing_acknowledged_or_nothing_committed_yet_is_faust_s_to_decide():
    assert not head_unacknowledged([], 89, gap_at_head=False)
    assert not head_unacknowledged([3, 4], None, gap_at_head=False)

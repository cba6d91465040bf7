import json

from streams.versioned import newest, version_of


def value(version: int) -> bytes:
    return json.dumps({"status": "x", "version": version}).encode()


def applied(records, stored=None) -> list[bool]:
    return list(newest(records, lambda key: (stored or {}).get(key)))


def test_a_record_older_than_the_stored_value_is_skipped():
    assert applied([((0, b"p"), value(1))], stored={(0, b"p"): 2}) == [False]


def test_newer_and_equal_versions_apply():
    assert applied([((0, b"p"), value(2)), ((0, b"p"), value(2))], stored={(0, b"p"): 1}) == [
        True,
        True,
    ]


def test_a_stale_record_after_a_newer_one_in_the_same_batch_is_skipped():
    """What a worker that lost its partition writes after the new owner's change."""
    records = [((0, b"p"), value(1)), ((0, b"p"), value(2)), ((0, b"p"), value(1))]
    assert applied(records) == [True, True, False]


def test_keys_and_partitions_are_apart():
    records = [((0, b"p"), value(5)), ((0, b"q"), value(1)), ((1, b"p"), value(1))]
    assert applied(records) == [True, True, True]


def test_deletions_and_unversioned_values_always_apply():
    records = [((0, b"p"), None), ((0, b"p"), b'{"no": "version"}'), ((0, b"p"), value(0))]
    assert applied(records, stored={(0, b"p"): 9}) == [True, True, True]


def test_version_of_reads_the_top_level_version():
    assert version_of(value(7)) == 7
    assert version_of(None) is None
    assert version_of(b'{"version": "7"}') is None

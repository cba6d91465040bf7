"""The topic registry matches what the worker declares."""

from oms.settings import Settings
from streams.app import create_app
from streams.topics import TABLES


def test_every_table_of_the_worker_is_listed_for_changelog_creation(tmp_path):
    app = create_app(Settings(kafka_bootstrap_servers="127.0.0.1:9", state_dir=tmp_path))
    assert set(app.tables) == set(TABLES)

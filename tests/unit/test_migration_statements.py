"""connectors/clickhouse/migrations.py: statements() splits a migration file."""

import re

import pytest

from connectors.clickhouse.migrations import MIGRATIONS_DIR, migration_files, statements


def code_lines(statement: str) -> list[str]:
    return [
        line
        for line in statement.splitlines()
        if line.strip() and not line.lstrip().startswith("--")
    ]


def test_splits_on_semicolons_at_line_ends():
    sql = "CREATE TABLE a (x Int8);\nCREATE TABLE b (y Int8);\n"
    assert statements(sql) == ["CREATE TABLE a (x Int8)", "CREATE TABLE b (y Int8)"]


def test_a_semicolon_followed_by_blanks_still_ends_the_statement():
    sql = "CREATE TABLE a (x Int8);   \n\n\nCREATE TABLE b (y Int8);\t\n"
    assert statements(sql) == ["CREATE TABLE a (x Int8)", "CREATE TABLE b (y Int8)"]


def test_a_semicolon_inside_a_line_does_not_split():
    sql = "SELECT 'a;b', 1; SELECT 2;\n"
    assert statements(sql) == ["SELECT 'a;b', 1; SELECT 2"]


def test_multi_line_statement_is_kept_whole_and_stripped():
    sql = "\n\nCREATE TABLE a\n(\n    x Int8\n)\nENGINE = Memory;\n\n"
    assert statements(sql) == ["CREATE TABLE a\n(\n    x Int8\n)\nENGINE = Memory"]


def test_last_statement_without_a_semicolon_is_kept():
    assert statements("CREATE TABLE a (x Int8);\nCREATE TABLE b (y Int8)") == [
        "CREATE TABLE a (x Int8)",
        "CREATE TABLE b (y Int8)",
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "\n\n  \n",
        "-- only a comment\n",
        "-- one\n-- two\n   -- indented\n",
        "-- a comment ending in a semicolon;\n-- another;\n",
    ],
)
def test_comment_only_or_empty_input_gives_no_statements(sql):
    assert statements(sql) == []


def test_comment_only_chunks_are_dropped():
    sql = "-- header\n;\nCREATE TABLE a (x Int8);\n-- trailing note\n"
    assert statements(sql) == ["CREATE TABLE a (x Int8)"]


def test_leading_comments_stay_with_their_statement():
    sql = "-- what a is for\nCREATE TABLE a (x Int8);\n"
    assert statements(sql) == ["-- what a is for\nCREATE TABLE a (x Int8)"]


def test_comment_block_with_a_blank_line_is_dropped():
    sql = "CREATE TABLE a (x Int8);\n\n-- note one\n\n-- note two\n"
    assert statements(sql) == ["CREATE TABLE a (x Int8)"]


MIGRATIONS = migration_files()


def test_the_migration_files_are_numbered_from_one_without_gaps():
    assert [version for version, _ in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(path.parent == MIGRATIONS_DIR for _, path in MIGRATIONS)


@pytest.mark.parametrize(("version", "path"), MIGRATIONS, ids=lambda p: getattr(p, "name", ""))
def test_each_real_migration_splits_into_idempotent_statements(version, path):
    """CREATE ... IF NOT EXISTS, or ALTER TABLE that only adds columns IF NOT EXISTS: a
    migration interrupted half-way is applied again from its first statement."""
    sql = path.read_text()
    found = statements(sql)
    assert found
    assert len(found) == len(re.findall(r"^(CREATE|ALTER)\b", sql, re.MULTILINE))
    for statement in found:
        code = code_lines(statement)
        assert code, statement
        assert not statement.rstrip().endswith(";")
        if code[0].startswith("CREATE "):
            assert "IF NOT EXISTS" in code[0]
            continue
        assert re.fullmatch(r"ALTER TABLE \w+", code[0]), statement
        clauses = " ".join(line.strip() for line in code[1:])
        actions = re.findall(r"(?:^|,\s*)([A-Z]+ [A-Z]+)", clauses)
        assert actions and set(actions) == {"ADD COLUMN"}, statement
        assert clauses.count("ADD COLUMN") == clauses.count("ADD COLUMN IF NOT EXISTS")

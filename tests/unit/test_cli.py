"""Every `oms` command and subcommand answers --help."""

import pytest
import typer
from typer.testing import CliRunner

from oms.cli import app


def _paths(command, path: tuple[str, ...] = ()):
    yield list(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*path, name))


COMMANDS = list(_paths(typer.main.get_command(app)))


def test_the_commands_are_all_there():
    names = {" ".join(c) for c in COMMANDS}
    expected = {"run", "worker", "sink", "topics create", "inventory reconcile", "bench slice"}
    assert expected <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "oms")
def test_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output

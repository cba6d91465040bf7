"""Every `oms` command and subcommand answers --help."""

import pytest
from typer.testing import CliRunner

from oms.cli import app

COMMANDS = [
    [],
    ["run"],
    ["worker"],
    ["sink"],
    ["migrate"],
    ["sql"],
    ["bench"],
    ["topics"],
    ["topics", "create"],
    ["kafka"],
    ["kafka", "start"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "oms")
def test_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output

from __future__ import annotations

from pathlib import Path

import click

from semcache.cli import cli
from semcache.config import ENV_PREFIX, setting_names

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for name in setting_names():
        assert f"`{name}`" in README or f"`{name}`," in README, name
        assert ENV_PREFIX + name.upper() in README, name


def test_every_command_is_documented() -> None:
    for group_name, group in cli.commands.items():
        if isinstance(group, click.Group):
            for command in group.commands:
                assert f"semcache {group_name} {command}" in README, (group_name, command)
        else:
            assert f"semcache {group_name}" in README, group_name

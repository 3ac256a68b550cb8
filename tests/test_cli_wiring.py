"""`python -m engine`: every command in the table is registered by the module it names,
and a known command builds only its own package's parser."""
import pytest

from engine.__main__ import COMMANDS, build_parser, main


def _commands(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_full_parser_lists_every_command():
    assert _commands(build_parser()) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_known_command_builds_only_its_module_commands(command):
    names = _commands(build_parser(command))
    assert command in names
    assert names == {c for c, module in COMMANDS.items() if module == COMMANDS[command]}


def test_unknown_command_is_refused_with_the_full_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "ingest" in err and "forecast" in err

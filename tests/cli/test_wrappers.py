"""`skinlesion up | train | evaluate` hand their arguments to the parts that own them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from skinlesion import cli, modelcmd

REPO = Path(__file__).resolve().parents[2]


def _makefile_variable(name: str) -> str:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{name}\s*:?=\s*(.+)$", text, re.MULTILINE)
    assert match, f"{name} not in the Makefile"
    return " ".join(match.group(1).split())


def _makefile_recipe(target: str) -> list[str]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{target}:.*\n\t(.+)$", text, re.MULTILINE)
    assert match, f"no recipe for {target} in the Makefile"
    return shlex.split(match.group(1))


def test_train_default_is_the_makefiles_recipe_for_the_shipped_model() -> None:
    shared = "/SHARED"
    flags = _makefile_variable("DEFAULT_MODEL_FLAGS").replace("$(SHARED)", shared).split()
    recipe = [word.replace("$(SHARED)", shared) for word in _makefile_recipe("train-default-model")]
    recipe = [w for w in recipe if w != "$(DEFAULT_MODEL_FLAGS)"][2:] + flags  # drop "$(PY) train.py"
    assert modelcmd.default_train_args(Path(shared)) == recipe


def test_make_aliases_call_the_console_script() -> None:
    assert _makefile_recipe("train-default") == ["$(BIN)/skinlesion", "train", "--default"]
    assert _makefile_recipe("up")[0:2] == ["$(BIN)/skinlesion", "up"]


@pytest.fixture
def fake_model_src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for script in ("train.py", "evaluate.py"):
        (tmp_path / script).write_text(
            "import os, sys\nprint(os.path.basename(__file__), sys.argv[1:], os.getcwd())\nsys.exit(7)\n"
        )
    monkeypatch.setattr(modelcmd, "MODEL_SRC", tmp_path)
    return tmp_path


def test_train_and_evaluate_pass_arguments_and_exit_code_through(fake_model_src, capfd) -> None:
    assert cli.main(["train", "--epochs", "2", "--help"]) == 7
    assert cli.main(["evaluate", "--artifact", "m.tar.gz"]) == 7
    out = capfd.readouterr().out.splitlines()
    assert out == [
        f"train.py ['--epochs', '2', '--help'] {modelcmd.REPO_ROOT}",
        f"evaluate.py ['--artifact', 'm.tar.gz'] {modelcmd.REPO_ROOT}",
    ]


def test_train_default_appends_the_users_flags_after_the_recipe(fake_model_src, monkeypatch, tmp_path, capfd):
    (tmp_path / "shared" / "data" / "isic-dev").mkdir(parents=True)
    monkeypatch.setattr(modelcmd, "SHARED", tmp_path / "shared")
    assert cli.main(["train", "--default", "--epochs", "1"]) == 7
    printed = capfd.readouterr().out
    shared = f"{tmp_path}/shared/data"
    assert f"'--train', '{shared}/isic-dev,{shared}/isic-2017'" in printed  # both sources (issue 13)
    assert printed.index("'--epochs', '10'") < printed.index("'--epochs', '1'")  # the user's flag wins


def test_train_default_without_the_shared_data_says_what_to_do(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(modelcmd, "SHARED", tmp_path / "nothing")
    assert cli.main(["train", "--default"]) == 2
    assert "--train DIR" in capsys.readouterr().err


def test_up_runs_the_local_stack_entry_point(monkeypatch) -> None:
    calls = []
    import skinlesion.local.up as up

    monkeypatch.setattr(up, "main", lambda argv: calls.append(argv) or 0)
    assert cli.main(["up", "--api-port", "9999"]) == 0
    assert calls == [["--api-port", "9999"]]


def test_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["deploy"])
    assert caught.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "cost"])
def test_a_bad_flag_shows_that_subcommands_usage(command, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--no-such-flag", "x.jpg"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith(f"usage: skinlesion {command} ")
    assert f"skinlesion {command}: error: unrecognized arguments: --no-such-flag" in err

"""Broken and foreign files where a recipe's checkpoint belongs: named, with the command that rebuilds it."""

import pytest
import torch

from gancourse import checkpoints, cli, recipes
from gancourse.checkpoints import CheckpointError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(recipes, "train_gan", lambda *a, **k: pytest.fail("nothing should have been trained"))


def test_foreign_dictionary_in_a_recipes_place(no_training):
    checkpoints.save({"weights": torch.zeros(2)}, recipes.recipe_checkpoint("dcgan"))
    with pytest.raises(CheckpointError, match=r"is not a checkpoint of the 'dcgan' recipe \(it lacks config, step, "
                                              r"history, G, D\). Delete it, or run python -m gancourse train dcgan --retrain"):
        recipes.load_or_train("dcgan")
    with pytest.raises(CheckpointError, match="not a checkpoint of the 'dcgan' recipe"):
        recipes.is_trained("dcgan")


def test_truncated_recipe_checkpoint_names_the_retrain_command(no_training):
    path = recipes.recipe_checkpoint("dcgan")
    checkpoints.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"truncated or not a torch file .*python -m gancourse train dcgan --retrain"):
        recipes.load_or_train("dcgan")


def test_finished_checkpoint_whose_networks_do_not_fit(no_training):
    recipe = recipes.get("dcgan")
    settings = recipe.settings()
    state = {"config": recipes._stored_config(recipe, settings), "step": 10**9, "history": {},
             "G": {"not.a.layer": torch.zeros(1)}, "D": {}, "ema": {}}
    checkpoints.save(state, recipes.recipe_checkpoint("dcgan"))
    with pytest.raises(CheckpointError, match=r"does not fit the 'dcgan' recipe's networks \(Error\(s\) in loading "
                                              r"state_dict.*\). Delete it, or run python -m gancourse train dcgan --retrain"):
        recipes.load_or_train("dcgan")


def test_cli_reports_a_broken_checkpoint_in_one_line(no_training, capsys):
    path = recipes.recipe_checkpoint("dcgan")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save([1, 2, 3], path)
    assert cli.main(["train", "dcgan"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m gancourse train: ") and "holds a list, not a checkpoint dictionary" in err
    assert "Traceback" not in err

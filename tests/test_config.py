import ast
from pathlib import Path

import pytest
import yaml

from wrn.config import Config, build_config, load_config, parse_overrides, recipe_names
from wrn.errors import ConfigError


def test_every_recipe_loads_and_validates():
    paper = [f"{name}{suffix}" for name in ("wrn16_8", "wrn28_10", "wrn28_10_dropout", "wrn40_10_dropout", "wrn40_4")
             for suffix in ("", "_c100")]
    assert recipe_names() == sorted(["demo", "wrn16_4", "wrn40_10", *paper])
    for name in recipe_names():
        assert load_config(name).name == name


def test_reference_recipe_is_the_seed_one():
    cfg = load_config("wrn40_10")
    assert (cfg.depth, cfg.widen_factor, cfg.batch_size, cfg.epochs, cfg.lr, cfg.warmup_epochs) == (40, 10, 32, 300, 0.1, 5)
    assert (cfg.momentum, cfg.nesterov, cfg.weight_decay, cfg.label_smoothing, cfg.loss_scale) == (0.9, True, 5e-4, 0.1, 32)


def test_overrides_are_typed_from_strings():
    cfg = load_config("wrn16_4", ["--epochs=3", "--lr=0.05", "--nesterov=False", "--mean=[0.5, 0.5,0.5]",
                                  "--lr_schedule=multistep", "--lr_milestones=1,2"])
    assert (cfg.epochs, cfg.lr, cfg.nesterov, cfg.mean, cfg.lr_milestones) == (3, 0.05, False, [0.5, 0.5, 0.5], [1, 2])


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("1", True), ("false", False),
                                        ("False", False), ("0", False)])
def test_booleans(text, value):
    assert load_config("demo", {"random_flip": text}).random_flip is value


@pytest.mark.parametrize("overrides,message", [
    ({"dept": "16"}, "unknown config key 'dept' (value '16'); did you mean 'depth'?"),
    ({"widen_factr": 2}, "did you mean 'widen_factor'?"),
    ({"epochs": "ten"}, "config key 'epochs' has value 'ten', expected an integer"),
    ({"epochs": 2.5}, "config key 'epochs' has value 2.5, expected an integer"),
    ({"lr": "fast"}, "config key 'lr' has value 'fast', expected a number"),
    ({"nesterov": "maybe"}, "config key 'nesterov' has value 'maybe', expected a boolean"),
    ({"depth": 17}, "config key 'depth' has value 17, expected 6n+4"),
    ({"lr": -0.1}, "config key 'lr' has value -0.1, expected a positive number"),
    ({"lr_schedule": "step"}, "expected one of multistep, cosine"),
    ({"mean": "0.5,0.5"}, "config key 'mean' has value [0.5, 0.5], expected 3 per-channel values"),
    ({"lr_milestones": "3"}, "no milestones: they apply to lr_schedule=multistep only"),
    ({"warmup_epochs": 8}, "config key 'warmup_epochs' has value 8, expected an integer in [0, epochs)"),
])
def test_bad_values_name_key_value_and_expectation(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", overrides)
    assert message in str(err.value)


def test_recipe_from_yaml_path_and_errors(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("depth: 22\nwiden_factor: 2\n")
    cfg = load_config(str(path))
    assert (cfg.name, cfg.depth, cfg.widen_factor) == ("mine", 22, 2)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="did you mean 'wrn16_4'"):
        load_config("wrn16-4")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected --key=value"):
        parse_overrides(["--depth"])


def test_saved_config_round_trips(tmp_path: Path):
    cfg = load_config("wrn40_10", {"epochs": 250})
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    again = build_config(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    assert again.to_dict() == cfg.to_dict()
    assert not list(tmp_path.glob(".*tmp*"))


def test_recipes_list_only_keys_the_config_knows():
    fields = set(Config().to_dict())
    for name in recipe_names():
        keys = set(yaml.safe_load((Path(__file__).parents[1] / "wrn" / "configs" / f"{name}.yaml").read_text()))
        assert keys <= fields, name


def test_every_config_key_is_read_by_the_code():
    """No key is silently ignored: each one is read as `cfg.<key>` somewhere in wrn/ (wrn/builder/build.py maps most of
    them to the core's factories)."""
    read = set()
    for path in (Path(__file__).parents[1] / "wrn").rglob("*.py"):
        if path.name != "config.py":
            read |= {node.attr for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cfg"}
    assert set(Config().to_dict()) - read == set()

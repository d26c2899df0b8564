"""A drop-in for ModelZoo WideResNet users: its commands (scripts/, export.py), its config files and console
hyperparameters, run here unchanged with their own arguments (tiny data and sizes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
import yaml

from conftest import ROOT, free_port, last_json, made_once, make_cifar, run_in_process
from wrn.cli import eval_main, modelarts_train_main
from wrn.config import load_config
from wrn.errors import ConfigError

# The ModelZoo README's key list with its values.
SEED_CONFIG = {"num_classes": 10, "batch_size": 32, "epoch_size": 300, "save_checkpoint_path": "./", "repeat_num": 1,
               "widen_factor": 10, "depth": 40, "lr_init": 0.1, "weight_decay": 5e-4, "momentum": 0.9,
               "loss_scale": 32, "save_checkpoint": True, "save_checkpoint_epochs": 5, "keep_checkpoint_max": 10,
               "use_label_smooth": True, "label_smooth_factor": 0.1, "pretrain_epoch_size": 0, "warmup_epochs": 5}
TINY = {"depth": 10, "widen_factor": 1, "epoch_size": 2, "batch_size": 16, "warmup_epochs": 1, "num_workers": 1,
        "save_checkpoint_epochs": 1, "keep_checkpoint_max": 2}
# The layout of the ModelZoo's config/wideresnet_cifar10_config.yaml: its keys, then a second document of help.
REPO_STYLE = """# Builtin Configurations
run_distribute: False
run_eval: False
eval_data_path: ""
enable_cache: False
cache_session_id: 0
eval_start_epoch: 1
eval_interval: 1
save_best_ckpt: True
acc_lower_bound: 0.94
device_target: "Ascend"
device_id: 0
infer_910: False
modelart: False
data_url: "data_url"
ckpt_url: "ckpt_url"
device_num: 1
output_path: "/root/experiments/"
experiment_label: ""
data_path: "/cache/data"
save_checkpoint_path: "/checkpoint/"
checkpoint_file_path: ""
use_summary_collector: True
collection_freq: 30
summary_dir: "/summary/"
result_path: "result_path"
label_path: "label_path"
num_classes: 10
batch_size: 64
loss_scale: 32
momentum: 0.9
weight_decay: 0.0005
epoch_size: 300
pretrain_epoch_size: 0
save_checkpoint: True
save_checkpoint_epochs: 5
keep_checkpoint_max: 10
pre_trained: ""
filter_weight: False
warmup_epochs: 5
lr_init: 0.1
repeat_num: 1
widen_factor: 10
depth: 40
use_label_smooth: True
label_smooth_factor: 0.1
---
data_path: "Dataset path for local"
epoch_size: "Total training epochs."
"""


def seed_yaml(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**SEED_CONFIG, **TINY, **changes}, sort_keys=False))
    return path


def script(name: str, *args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    return subprocess.run(["bash", str(ROOT / "scripts" / name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHON": sys.executable, "GLOG_v": "3", **(env or {})})


def test_the_readme_key_list_maps_to_this_packages_keys(tmp_path):
    notes: list[str] = []
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(SEED_CONFIG))
    cfg = load_config(str(path), notes=notes)
    assert (cfg.epochs, cfg.lr, cfg.batch_size, cfg.depth, cfg.widen_factor) == (300, 0.1, 32, 40, 10)
    assert (cfg.checkpoint_interval, cfg.keep_checkpoint_max, cfg.loss_scale, cfg.warmup_epochs) == (5, 10, 32.0, 5)
    assert cfg.label_smoothing == 0.1 and cfg.weight_decay == 5e-4 and cfg.momentum == 0.9
    assert "epoch_size->epochs=300" in notes and "lr_init->lr=0.1" in notes
    assert "save_checkpoint_epochs->checkpoint_interval=5" in notes and any("learning rate" in n for n in notes)


def test_the_repositorys_config_file_loads_with_its_help_document(tmp_path):
    (tmp_path / "wideresnet_cifar10_config.yaml").write_text(REPO_STYLE)
    notes: list[str] = []
    cfg = load_config(str(tmp_path / "wideresnet_cifar10_config.yaml"), notes=notes)
    assert (cfg.epochs, cfg.batch_size, cfg.device_target, cfg.eval_start_epoch) == (300, 64, "Ascend", 1_000_000)
    assert "run_eval=False -> evaluate after the last epoch only (over eval_start_epoch=1)" in notes


@pytest.mark.parametrize("key,value,reason", [
    ("repeat_num", 2, "never repeated"), ("pretrain_epoch_size", 10, "--resume=auto"),
    ("save_checkpoint", False, "last.ckpt is always kept"), ("filter_weight", True, "fine-tuning"),
    ("use_label_smooth", "maybe", "expected True or False"),
])
def test_keys_with_no_meaning_here_are_refused_away_from_their_neutral_value(tmp_path, key, value, reason):
    with pytest.raises(ConfigError, match=reason):
        load_config(str(seed_yaml(tmp_path / "c.yaml", **{key: value})))


def run_standalone_script(folder: Path) -> dict:
    """`bash run_standalone_train.sh DATA seed.yaml exp1` in `folder`: what it printed and its exit status."""
    data = make_cifar(folder / "data")
    done = script("run_standalone_train.sh", str(data), str(seed_yaml(folder / "seed.yaml")), "exp1", cwd=folder)
    return {"folder": str(folder), "returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-2000:]}


@pytest.fixture(scope="session")
def standalone(tmp_path_factory) -> dict:
    """The standalone script's run, made once per session: its test checks it, the eval/export/310 scripts' test
    reads its data, config and checkpoint (read-only)."""
    made = made_once(tmp_path_factory, "modelzoo_standalone", run_standalone_script)
    return {**made, "folder": Path(made["folder"])}


def test_standalone_script_with_a_modelzoo_config_file(standalone):
    folder = standalone["folder"]
    assert standalone["returncode"] == 0, standalone["stderr"]
    assert "ModelZoo keys mapped: " in standalone["stdout"] and "epoch_size->epochs=2" in standalone["stdout"]
    summary = json.loads((folder / "runs" / "exp1" / "summary.json").read_text())
    assert summary["epochs"] == 2
    records = [json.loads(r) for r in (folder / "runs" / "exp1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["top1"] is not None for r in records] == [False, True]  # RUN_EVAL defaults to False: the end only
    assert sorted(p.name for p in (folder / "runs" / "exp1" / "ckpt").glob("epoch_*")) == [
        "epoch_0001.ckpt", "epoch_0002.ckpt"]  # save_checkpoint_epochs 1, keep_checkpoint_max 2


def test_run_eval_true_evaluates_every_epoch_on_the_eval_dataset_path(tmp_path):
    data = make_cifar(tmp_path / "data")
    other = make_cifar(tmp_path / "other", eval_size=30, seed=5)
    (other / "train" / "data_batch_1.bin").unlink()  # the eval folder holds only test_batch.bin
    done = script("run_standalone_train_gpu.sh", str(data), str(seed_yaml(tmp_path / "s.yaml")), "exp2", "True",
                  str(other / "eval"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(r) for r in (tmp_path / "runs" / "exp2" / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval_images"] for r in records] == [30, 30]


def test_distribute_script_with_a_rank_table(tmp_path):
    data = make_cifar(tmp_path / "data")
    table = tmp_path / "rank_table_1p.json"
    table.write_text(json.dumps({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "10.0.0.1", "device": [{"device_id": "0", "device_ip": "192.1.1.1", "rank_id": "0"}]}]}))
    done = script("run_distribute_train.sh", str(table), str(data), str(seed_yaml(tmp_path / "s.yaml")), "exp3",
                  cwd=tmp_path, env={"RUN_ROOT": str(tmp_path / "train_parallel")})
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    assert json.loads((tmp_path / "runs" / "exp3" / "summary.json").read_text())["epochs"] == 2


def test_distribute_script_stops_at_a_bad_rank_table_with_the_packages_error(tmp_path):
    """The script asks the package how many cards the table lists (python -m wrn.cli ranktable devices): the
    launch's own parser, so a table the launch would refuse is refused here, in one line, before any process."""
    table = tmp_path / "rank_table_8p.json"
    table.write_text('{"version": "1.0", "server_list": [{"server_id": "10.0.0.1", "device": []}]}')
    done = script("run_distribute_train.sh", str(table), str(tmp_path / "data"), "wrn16_4", "exp", cwd=tmp_path,
                  env={"RUN_ROOT": str(tmp_path / "train_parallel")})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: rank table {table} lists no devices: expected a server with at least one device\n"
    assert not (tmp_path / "train_parallel").exists() and not (tmp_path / "runs").exists()


def test_distribute_gpu_script_runs_two_data_parallel_workers(tmp_path):
    data = make_cifar(tmp_path / "data", train_sizes=(128,))
    done = script("run_distribute_train_gpu.sh", str(data), str(seed_yaml(tmp_path / "s.yaml")), "exp4",
                  cwd=tmp_path, env={"DEVICE_NUM": "2", "LOG_DIR": str(tmp_path / "msrun_log"),
                                     "MASTER_PORT": str(free_port())})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "runs" / "exp4" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 2


def test_eval_export_and_310_scripts(standalone, tmp_path):
    # The standalone script's run (test_standalone_script_with_a_modelzoo_config_file): its data, config, checkpoint.
    assert standalone["returncode"] == 0, standalone["stderr"]
    data, config = standalone["folder"] / "data", standalone["folder"] / "seed.yaml"
    best = standalone["folder"] / "runs" / "exp1" / "ckpt" / "best.ckpt"
    # The README's exact form: three arguments, no config. The checkpoint (WRN-10-1 from a config file, not the
    # default WRN-40-10) carries its config, copies of it too.
    shutil.copy(best, tmp_path / "copied.ckpt")
    evaluated = script("run_eval.sh", str(data), str(tmp_path / "copied.ckpt"), "False", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert evaluated.stdout.strip().splitlines()[-1].startswith("result: {'top_1_accuracy': ")
    # With the config file as well, the same result: what the script runs for a 4th argument that is a file
    # (config_arg: its absolute path), in this process; the script's passing of a 4th argument is `wrong` below.
    status, with_config, err = run_in_process(eval_main, f"--config={config}", f"--data_url={data}",
                                              f"--checkpoint={best}")
    assert status == 0, err[-2000:]
    top1 = last_json(with_config)["top1"]
    assert evaluated.stdout.strip().splitlines()[-1] == f"result: {{'top_1_accuracy': {top1!r}}}"
    wrong = script("run_eval.sh", str(data), str(best), "False", "wrn16_4", cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"error: --config wrn16_4 builds WRN-16-4 with 10 classes, but checkpoint {best} holds WRN-10-1 with 10 "
        "classes (recipe 'seed'): leave out --config (and architecture overrides) to use the checkpoint's own config")
    modelart = script("run_eval.sh", str(data), str(best), "True", cwd=tmp_path)
    assert modelart.returncode == 1 and "MODELART=True needs obs:// URLs" in modelart.stderr

    exported = subprocess.run([sys.executable, str(ROOT / "export.py"), f"--ckpt_file={best}", "--file_format=MINDIR",
                               f"--file_name={tmp_path / 'wideresnet'}"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert (tmp_path / "wideresnet.mindir").is_file() and (tmp_path / "wideresnet.mindir.json").is_file()

    infer = script("run_infer_310.sh", str(tmp_path / "wideresnet.mindir"), str(data), "0", cwd=tmp_path,
                   env={"MINDSPORE_PATH": str(tmp_path / "no-runtime"), "BUILD_DIR": str(tmp_path / "build")})
    assert infer.returncode == 1 and "MindSpore C++ inference API not found" in infer.stderr  # its documented exit
    assert (tmp_path / "preprocess_Result" / "img_data" / "wrn_00000.bin").is_file()


@pytest.mark.parametrize("name,args,usage", [
    ("run_standalone_train.sh", ["d"], "Usage: bash run_standalone_train.sh [DATASET_PATH] [CONFIG_PATH] [LABEL] "
                                       "[RUN_EVAL] [EVAL_DATASET_PATH]"),
    ("run_distribute_train.sh", ["t", "d", "c"], "Usage: bash run_distribute_train.sh [RANK_TABLE_FILE] "
                                                 "[DATASET_PATH] [CONFIG_PATH] [LABEL] [RUN_EVAL] [EVAL_DATASET_PATH]"),
    ("run_distribute_train_gpu.sh", [], "Usage: bash run_distribute_train_gpu.sh [DATASET_PATH] [CONFIG_PATH] "
                                        "[EXPERIMENT_LABEL]"),
    ("run_standalone_train_gpu.sh", ["a", "b"], "Usage: bash run_standalone_train_gpu.sh [DATASET_PATH] "
                                                "[CONFIG_PATH] [EXPERIMENT_LABEL]"),
    ("run_eval.sh", ["a"], "Usage: bash run_eval.sh [DATA_URL] [CKPT_URL] [MODELART]"),
    ("run_infer_310.sh", ["m"], "Usage: bash run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID]"),
])
def test_wrong_argument_counts_print_the_modelzoo_usage_and_ours(tmp_path, name, args, usage):
    done = script(name, *args, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(usage) and lines[1].strip().startswith("(here: ")


def test_modelarts_boot_file_takes_the_console_hyperparameters(tmp_path):
    data = make_cifar(tmp_path / "data")
    run = tmp_path / "out"
    console = ["--enable_modelarts=True", "--run_distribute=False", "--device_target=CPU", "--epoch_size=2",
               "--lr_init=0.05", "--use_label_smooth=True", "--label_smooth_factor=0.1", "--depth=10",
               "--widen_factor=1", "--batch_size=16", "--num_workers=1", "--warmup_epochs=0"]
    # The boot file's entry function in this process: the boot file itself trains as a subprocess in
    # test_modelarts_boot.py (new-style mounted paths, old-style obs:// URLs).
    status, first, err = run_in_process(modelarts_train_main, "--config=demo", f"--data_url={data}",
                                        f"--train_url={run}", *console)
    assert status == 0, err[-2000:]
    assert "ModelZoo keys mapped: " in first and "enable_modelarts=True (no effect" in first
    # Again, with its checkpoint (the ModelZoo's --checkpoint_url)
    status, again, err = run_in_process(modelarts_train_main, "--config=demo", f"--data_url={data}",
                                        f"--train_url={run}", *console,
                                        f"--checkpoint_url={run / 'ckpt' / 'last.ckpt'}")
    assert status == 0 and "already finished all 2 epochs" in again, err[-2000:]


def test_modelzoo_checkpoints_are_refused_with_the_reason(tmp_path):
    """Parameter names of the ModelZoo network (its src/wide_resnet.py): conv2..conv4 groups with conv biases."""
    names = {"conv1.weight": (16, 3, 3, 3), "conv1.bias": (16,), "bn1.gamma": (16,),
             "conv2.0.conv1.weight": (16, 16, 3, 3), "conv2.0.conv1.bias": (16,), "linear.weight": (10, 64),
             "linear.bias": (10,)}
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(np.zeros(s, np.float32))} for n, s in names.items()],
                       str(tmp_path / "WideResNet_best.ckpt"))
    status, _, err = run_in_process(eval_main, "--config=demo", f"--data_url={make_cifar(tmp_path / 'data')}",
                                    f"--checkpoint={tmp_path / 'WideResNet_best.ckpt'}")
    assert status == 2 and "comes from the MindSpore ModelZoo WideResNet" in err
    assert "biases on every convolution" in err


@pytest.mark.parametrize("modelzoo_key,native,value", [
    ("epoch_size", "epochs", 3), ("lr_init", "lr", 0.2), ("save_checkpoint_epochs", "checkpoint_interval", 2),
    ("use_label_smooth", "label_smoothing", 0.2), ("label_smooth_factor", "label_smoothing", 0.2)])
def test_a_file_with_a_modelzoo_key_and_its_native_twin_is_refused_naming_both(tmp_path, modelzoo_key, native, value):
    path = seed_yaml(tmp_path / "c.yaml", **{native: value})
    if modelzoo_key == "label_smooth_factor":  # alone, without use_label_smooth
        values = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "use_label_smooth"}
        path.write_text(yaml.safe_dump(values))
    with pytest.raises(ConfigError, match=f"holds both the ModelZoo key {modelzoo_key!r} .* and its twin {native!r}"):
        load_config(str(path))


def test_the_command_line_wins_over_a_files_twin_and_the_mapping_says_so(tmp_path):
    notes: list[str] = []
    cfg = load_config(str(seed_yaml(tmp_path / "c.yaml")), {"epochs": "5", "label_smoothing": "0.0"}, notes)
    assert (cfg.epochs, cfg.label_smoothing) == (5, 0.0)
    assert "epochs=5 from the command line over the file's mapped epochs=2" in notes
    console = load_config(str(seed_yaml(tmp_path / "d.yaml")), {"epoch_size": "4"}, notes)  # the console's name
    assert console.epochs == 4
    with pytest.raises(ConfigError, match="the command line: holds both the ModelZoo key 'epoch_size'"):
        load_config(str(seed_yaml(tmp_path / "e.yaml")), {"epoch_size": "4", "epochs": "6"})


@pytest.mark.parametrize("label", ["../escape", "..", ".", "a/b", "/abs"])
def test_a_label_cannot_put_the_run_outside_runs(tmp_path, label):
    data = make_cifar(tmp_path / "data")
    (tmp_path / "work").mkdir()
    done = script("run_standalone_train.sh", str(data), str(seed_yaml(tmp_path / "s.yaml")), label,
                  cwd=tmp_path / "work")
    assert done.returncode == 1 and done.stderr.strip() == (
        f"error: LABEL '{label}' must be one folder name below ./runs (no '/', not '.' or '..')")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "s.yaml", "work"]
    assert not list((tmp_path / "work").iterdir())


def test_a_failed_script_start_leaves_no_run_folder(tmp_path):
    done = script("run_standalone_train.sh", str(tmp_path / "no-data"), str(seed_yaml(tmp_path / "s.yaml")), "exp",
                  cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "exp").exists()

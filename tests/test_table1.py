"""Training recipe and the ``table1`` experiment, on tiny synthetic MNIST-shaped data."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
import torch

from odebench.cli import main as cli_main
from odebench.data.mnist import MNIST
from odebench.experiments.table1 import Table1Config, linear_fit, run
from odebench.models.mnist import build_model
from odebench.training import (
    LOG_FIELDS,
    TrainConfig,
    budget_matches,
    check_device,
    load_checkpoint,
    random_crop,
    train,
)


def synthetic_mnist(n_train: int = 64, n_test: int = 16) -> MNIST:
    g = torch.Generator().manual_seed(0)
    return MNIST(
        train_images=torch.randint(0, 256, (n_train, 28, 28), generator=g, dtype=torch.uint8),
        train_labels=torch.arange(n_train) % 10,
        test_images=torch.randint(0, 256, (n_test, 28, 28), generator=g, dtype=torch.uint8),
        test_labels=torch.arange(n_test) % 10,
        source="synthetic",
    )


def test_learning_rate_follows_the_reference_schedule():
    cfg = TrainConfig(batch_size=256)
    assert cfg.initial_lr == pytest.approx(0.2)
    assert [cfg.lr_at(e) for e in (0, 59, 60, 100, 140, 159)] == pytest.approx(
        [0.2, 0.2, 0.02, 0.002, 0.0002, 0.0002]
    )
    assert TrainConfig().epochs == 160 and TrainConfig().batch_size == 128


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"train_subset": 0}, {"batch_size": 1.5}])
def test_bad_budget_is_rejected(bad):
    with pytest.raises(ValueError, match="must be an integer"):
        TrainConfig(**bad)


def test_random_crop_shifts_each_image_within_the_padding():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    out = random_crop(x, 4, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.equal(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # the blob stays inside
    assert not torch.equal(out, x)
    assert torch.equal(random_crop(x, 0), x)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_says_to_use_cpu():
    with pytest.raises(RuntimeError, match="--device cpu"):
        check_device("cuda")


def test_training_logs_every_iteration_and_checkpoints(tmp_path):
    data = synthetic_mnist()
    model = build_model("rknet", solver=None)
    cfg = TrainConfig(epochs=2, batch_size=4, train_subset=8, test_batch_size=8)
    result = train(
        model, data, cfg, name="rk", log_path=tmp_path / "log.csv",
        checkpoint_path=tmp_path / "rk.pt",
    )
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.columns) == list(LOG_FIELDS)
    assert len(log) == 4  # 2 epochs x 8 / 4
    assert (log["nfe_forward"] == 16).all() and (log["nfe_backward"] == 0).all()
    assert (log["time_forward_s"] > 0).all() and (log["time_backward_s"] > 0).all()
    assert 0.0 <= result.test_error <= 1.0
    fresh = build_model("rknet")
    meta = load_checkpoint(tmp_path / "rk.pt", fresh)
    assert budget_matches(meta, cfg) and not budget_matches(meta, TrainConfig(epochs=3))
    assert meta["test_error"] == result.test_error
    assert torch.equal(fresh.state_dict()["2.4.weight"], model.state_dict()["2.4.weight"])


def test_linear_fit_recovers_slope_and_marks_a_constant_knob_as_nan():
    slope, intercept, r2 = linear_fit([1, 2, 4], [10, 13, 19])
    assert slope == pytest.approx(3) and intercept == pytest.approx(7) and r2 == pytest.approx(1)
    assert math.isnan(linear_fit([3, 3], [1, 2])[0])


def test_table1_run_writes_csv_and_markdown_with_measured_scaling(tmp_path):
    cfg = Table1Config(
        train=TrainConfig(epochs=1, batch_size=4, train_subset=8, test_batch_size=16),
        out=tmp_path,
        measure_batch=2,
        depths=(1, 2),
        rk_steps=(1, 2),
        tolerances=(1e-1, 1e-4),
        time_repeat=1,
    )
    table, scaling = run(cfg, synthetic_mnist())
    written = pd.read_csv(tmp_path / "table1.csv").set_index("model")
    assert list(written.index) == ["mlp", "resnet", "rknet", "odenet"]
    assert written.loc["resnet", "params"] == 601_482
    assert written.loc["odenet", "params"] == 232_970
    assert written.loc["resnet", "saved_slope"] > 0
    assert written.loc["rknet", "saved_slope"] > 0
    assert written.loc["odenet", "saved_slope"] == pytest.approx(0.0, abs=1.0)  # O(1): adjoint
    assert written.loc["rknet", "nfe_forward"] == 16 and written.loc["rknet", "nfe_backward"] == 0
    assert written.loc["odenet", "nfe_backward"] > 0
    assert set(scaling["model"]) == {"resnet", "rknet", "odenet"}
    md = (tmp_path / "table1.md").read_text()
    assert "[0.41%]" in md and "[O(1)]" in md and "601,482" in md
    # a second run reuses the checkpoints instead of training again
    table2, _ = run(dataclasses.replace(cfg, models=("mlp", "rknet")), synthetic_mnist())
    assert (table2["weights"] == "loaded checkpoint").all()
    assert list(table2["test_error"]) == list(table["test_error"][[0, 2]])


def test_cli_reports_a_missing_gpu_as_an_error_exit(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert cli_main(["table1", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_cli_rejects_unknown_models(capsys):
    assert cli_main(["table1", "--models", "mlp,vgg"]) == 2
    assert "vgg" in capsys.readouterr().err

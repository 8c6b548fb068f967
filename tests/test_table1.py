"""Training recipe and the ``table1`` experiment, on tiny synthetic MNIST-shaped data."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from torch import nn

from odebench.cli import main as cli_main
from odebench.data.mnist import MNIST
from odebench.experiments.table1 import Table1Config, block_error_points, run
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


def test_learning_rate_decays_at_the_papers_epochs_over_160_epochs():
    cfg = TrainConfig(batch_size=256)  # lr 0.1 * 256 / 128
    assert cfg.initial_lr == pytest.approx(0.2)
    total = 160 * 10  # 10 iterations per epoch: epoch e starts at iteration 10 e
    lrs = [cfg.lr_at(10 * e, total) for e in (0, 59, 60, 99, 100, 140, 159)]
    assert lrs == pytest.approx([0.2, 0.2, 0.02, 0.02, 0.002, 0.0002, 0.0002])
    assert cfg.lr_at(599, total) == pytest.approx(0.2)  # last iteration of epoch 59
    assert TrainConfig().epochs == 160 and TrainConfig().batch_size == 128


def test_a_short_run_decays_at_the_same_fractions_of_its_course():
    cfg = TrainConfig(epochs=4)
    total = 4 * 468  # 1,872 iterations: boundaries at 0.375, 0.625, 0.875 of them
    assert cfg.boundary_epochs() == pytest.approx((1.5, 2.5, 3.5))
    at = {i: cfg.lr_at(i, total) for i in (0, 701, 702, 1169, 1170, 1637, 1638, 1871)}
    assert at == pytest.approx(
        {0: 0.1, 701: 0.1, 702: 0.01, 1169: 0.01, 1170: 0.001, 1637: 0.001, 1638: 1e-4,
         1871: 1e-4}
    )  # fmt: skip
    assert TrainConfig(epochs=4, lr_boundaries=()).lr_at(1871, total) == 0.1


@pytest.mark.parametrize("bounds", [(0.5, 0.25), (1.5,), (-0.1,)])
def test_boundaries_must_be_increasing_fractions(bounds):
    with pytest.raises(ValueError, match="increasing fractions"):
        TrainConfig(lr_boundaries=bounds)


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
        model,
        data,
        cfg,
        name="rk",
        log_path=tmp_path / "log.csv",
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


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import odebench.training as training

    data = synthetic_mnist()
    cfg = TrainConfig(epochs=2, batch_size=4, train_subset=8, test_batch_size=8)
    torch.manual_seed(0)
    whole = build_model("mlp")
    train(whole, data, cfg, log_path=tmp_path / "a.csv", checkpoint_path=tmp_path / "a.pt")

    real_step, calls = training.train_step, []

    def dies_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # 2 iterations per epoch: the first of epoch 2
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", dies_in_epoch_two)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(build_model("mlp"), data, cfg, log_path=tmp_path / "b.csv",
              checkpoint_path=tmp_path / "b.pt")  # fmt: skip
    monkeypatch.setattr(training, "train_step", real_step)
    torch.manual_seed(1)  # another init: the resumed run must take the checkpoint's weights
    resumed = build_model("mlp")
    result = train(
        resumed, data, cfg, log_path=tmp_path / "b.csv", checkpoint_path=tmp_path / "b.pt"
    )
    assert len(result.log) == 4 and [r["iteration"] for r in result.log] == [0, 1, 2, 3]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert pd.read_csv(tmp_path / "b.csv")["loss"].tolist() == pytest.approx(
        pd.read_csv(tmp_path / "a.csv")["loss"].tolist()
    )


def test_a_run_resumes_into_another_length_only_where_its_past_schedule_agrees(
    tmp_path, monkeypatch
):
    import shutil

    import odebench.training as training

    data = synthetic_mnist()
    four = TrainConfig(epochs=4, batch_size=4, train_subset=8, test_batch_size=8)
    real_step, calls = training.train_step, []

    def dies_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # 2 iterations per epoch: the first of epoch 3
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", dies_in_epoch_three)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(build_model("mlp"), data, four, log_path=tmp_path / "a.csv",
              checkpoint_path=tmp_path / "a.pt")  # fmt: skip
    monkeypatch.setattr(training, "train_step", real_step)
    for name in ("a.csv", "a.pt"):
        shutil.copy(tmp_path / name, tmp_path / name.replace("a.", "b."))

    def fresh(cfg: TrainConfig) -> nn.Module:
        torch.manual_seed(0)
        model = build_model("mlp")
        train(model, data, cfg)
        return model

    # 4 epochs x 2 iterations decay at iterations 3, 5, 7; 3 epochs at ceil(2.25) = 3, 4, 6:
    # the 4 iterations done (lr x1, x1, x1, x0.1) are the 3-epoch run's first 4
    said: list[str] = []
    three = dataclasses.replace(four, epochs=3)
    resumed = build_model("mlp")
    result = train(resumed, data, three, log_path=tmp_path / "a.csv",
                   checkpoint_path=tmp_path / "a.pt", progress=said.append)  # fmt: skip
    assert any("resuming after epoch 2 of 3" in m for m in said)
    lr = 0.1 * 4 / 128  # batch 4
    assert [r["lr"] for r in result.log] == pytest.approx([lr, lr, lr, lr / 10, lr / 100, lr / 100])
    for a, b in zip(fresh(three).state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # 6 epochs decay first at ceil(0.375 x 12) = 5: iteration 3 would have had lr x1, not x0.1
    said.clear()
    six = dataclasses.replace(four, epochs=6)
    restarted = build_model("mlp")
    result = train(restarted, data, six, log_path=tmp_path / "b.csv",
                   checkpoint_path=tmp_path / "b.pt", progress=said.append)  # fmt: skip
    assert not any("resuming" in m for m in said) and len(result.log) == 12


def test_table1_measures_the_trained_models_as_cases_in_the_one_schema(tmp_path):
    from odebench.results import COLUMNS, read_results

    cfg = Table1Config(
        train=TrainConfig(epochs=1, batch_size=4, train_subset=8, test_batch_size=16),
        out=tmp_path,
        measure_batch=2,
        depths=(1, 2),
        rk_steps=(1, 2),
        tolerances=(1e-1, 1e-4),
        timed_passes=1,
        inputs="random",
        executor="inline",
        error_tolerances=(1e-1, 1e-2),
        reference_rtol=1e-5,
        fig3c_batches=1,
    )
    table = run(cfg, synthetic_mnist(), progress=False)
    written = pd.read_csv(tmp_path / "table1.csv").set_index("model")
    assert list(written.index) == ["mlp", "resnet", "rknet", "odenet"]
    assert written.loc["resnet", "params"] == 601_482
    assert written.loc["odenet", "params"] == 232_970
    assert written.loc["resnet", "saved_slope"] > 0
    assert written.loc["rknet", "saved_slope"] > 0
    assert written.loc["odenet", "saved_slope"] == 0.0  # the adjoint saves the same at any NFE
    assert written.loc["rknet", "nfe_forward"] == 16 and written.loc["rknet", "nfe_backward"] == 0
    assert written.loc["odenet", "nfe_backward"] > 0
    assert written.loc["rknet", "scaling_range"] == "1..4"  # steps 1, 2 and the row's own 4
    results = read_results(tmp_path / "table1" / "results.csv")
    assert list(pd.read_csv(tmp_path / "table1" / "results.csv").columns) == list(COLUMNS)
    assert set(results["suite"]) == {"table1"}
    # mlp; resnet d1, d2 (untrained sweep) + trained d6; rknet n1, n2 + its own n4; odenet
    # 1e-1, 1e-4 + its own 1e-3; then the trained ODE-Net under implicit Adams and LSODA
    assert len(results) == 1 + 3 + 3 + 3 + 2
    by_method = results.set_index("method")["status"]
    assert by_method["implicit_adams"] == "ok"
    # scipy's LSODA allocates an n x n Jacobian workspace: the adjoint's n (2 x 2 x 3,136
    # states + 75,392 parameters) makes that 62 GB, so it fails, and the failure is a row
    assert by_method["scipy_lsoda"] != "ok"
    assert (results[~results["method"].isin(["scipy_lsoda"])]["status"] == "ok").all()
    trained = results[results["weights"].astype(str).str.endswith(".pt")]
    assert set(trained["model"]) == {"mlp", "resnet", "rknet", "odenet"}
    assert "time_step_s" not in written.columns  # one name, one meaning (update vs fwd+bwd)
    assert (tmp_path / "table1" / "provenance.json").exists()
    md = (tmp_path / "table1.md").read_text()
    assert "[0.41%]" in md and "[O(1)]" in md and "601,482" in md
    assert "[1.60%*]" in md and "LeCun et al. 1998" in md
    logs = sorted(p.name for p in (tmp_path / "table1_logs").iterdir())
    assert logs == [f"{m}_train_log.csv" for m in ("mlp", "odenet", "resnet", "rknet")]
    errors = pd.read_csv(tmp_path / "table1" / "fig3a_block_error.csv")
    assert list(errors["rtol"]) == [1e-1, 1e-2]
    assert errors["nfe_forward"].is_monotonic_increasing
    fig3c = pd.read_csv(tmp_path / "table1" / "fig3c_nfe.csv")
    assert list(fig3c["solver"]) == ["dopri5", "implicit_adams"]
    assert (fig3c["nfe_backward"] > 0).all()
    failures = pd.read_csv(tmp_path / "table1" / "fig3c_failures.csv")
    assert list(failures["solver"]) == ["scipy_lsoda"]
    assert "MemoryError" in failures["error"].iloc[0]
    drawn = sorted(p.name for p in (tmp_path / "plots").glob("fig3*.png"))
    assert drawn == [
        "fig3a_error_vs_nfe.png", "fig3b_time_vs_nfe.png", "fig3c_nfe_backward_vs_forward.png",
        "fig3d_nfe_over_training.png",
    ]  # fmt: skip
    # a second run reuses the checkpoints and keeps the earlier measurement as a backup
    table2 = run(dataclasses.replace(cfg, models=("mlp", "rknet")), synthetic_mnist(),
                 progress=False)  # fmt: skip
    assert (table2["weights"] == "loaded checkpoint").all()
    assert list(table2["test_error"]) == list(table["test_error"][[0, 2]])
    assert len(list(tmp_path.glob("table1.backup-*"))) == 1


def test_block_error_falls_as_the_tolerance_tightens():
    torch.manual_seed(0)
    model = build_model("odenet", stem="residual")
    x = torch.rand(1, 1, 28, 28)
    points = block_error_points(model, x, (1e-1, 1e-3, 1e-5), reference_rtol=1e-8)
    errors = points["relative_error"].tolist()
    assert errors[0] > errors[1] > errors[2] > 0
    assert points["nfe_forward"].is_monotonic_increasing
    assert (points["dtype"] == "float64").all()


def test_cli_reports_a_missing_gpu_as_an_error_exit(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert cli_main(["table1", "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_cli_rejects_unknown_models(capsys):
    assert cli_main(["table1", "--models", "mlp,vgg"]) == 2
    assert "vgg" in capsys.readouterr().err

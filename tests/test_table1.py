"""Training recipe and the ``table1`` experiment, on tiny synthetic MNIST-shaped data."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from torch import nn

from odebench.cli import main as cli_main
from odebench.experiments.table1 import Table1Config, block_error_points, run
from odebench.experiments.training import (
    LOG_FIELDS,
    TrainConfig,
    budget_matches,
    check_device,
    load_checkpoint,
    random_crop,
    train,
)
from odebench.workloads.data.mnist import MNIST
from odebench.workloads.models.mnist import build_model


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
    import odebench.experiments.training as training

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

    import odebench.experiments.training as training

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


def tiny_config(out, **overrides) -> Table1Config:
    fields = dict(
        train=TrainConfig(epochs=1, batch_size=4, train_subset=8, test_batch_size=16),
        out=out,
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
        test_tolerances=(1e-1, 1e-3),
        single_images=3,
    )
    fields.update(overrides)
    return Table1Config(**fields)


def test_table1_measures_the_trained_models_as_cases_in_the_one_schema(tmp_path):
    from odebench.running.results import COLUMNS, read_results

    out = tmp_path / "t1"
    cfg = tiny_config(out)
    table = run(cfg, synthetic_mnist(), progress=False)
    written = pd.read_csv(out / "table1.csv").set_index("model")
    assert list(written.index) == ["mlp", "resnet", "rknet", "odenet"]
    assert written.loc["resnet", "params"] == 601_482
    assert written.loc["odenet", "params"] == 232_970
    assert written.loc["resnet", "saved_slope"] > 0
    assert written.loc["rknet", "saved_slope"] > 0
    assert written.loc["odenet", "saved_slope"] == 0.0  # the adjoint saves the same at any NFE
    assert written.loc["rknet", "nfe_forward"] == 16 and written.loc["rknet", "nfe_backward"] == 0
    assert written.loc["odenet", "nfe_backward"] > 0
    assert written.loc["rknet", "scaling_range"] == "1..4"  # steps 1, 2 and the row's own 4
    results = read_results(out / "results.csv")
    assert list(pd.read_csv(out / "results.csv").columns) == list(COLUMNS)
    assert set(results["suite"]) == {"table1"}
    # mlp; resnet d1, d2 (untrained sweep) + trained d6; rknet n1, n2 + its own n4; odenet
    # 1e-1, 1e-4 + its own 1e-3; then the trained ODE-Net under LSODA and implicit Adams
    assert len(results) == 1 + 3 + 3 + 3 + 2
    assert (results["status"] == "ok").all()
    lsoda = results[results["method"] == "lsoda"].iloc[0]
    assert lsoda["backend"] == "scipy_odeint" and lsoda["nfe_backward"] > 0
    trained = results[results["weights"].astype(str).str.endswith(".pt")]
    assert set(trained["model"]) == {"mlp", "resnet", "rknet", "odenet"}
    assert set(trained["weights"]) == {str(out / "checkpoints" / f"{m}.pt")
                                      for m in ("mlp", "resnet", "rknet", "odenet")}  # fmt: skip
    assert "time_step_s" not in written.columns  # one name, one meaning (update vs fwd+bwd)
    assert (out / "provenance.json").exists()
    md = (out / "table1.md").read_text()
    assert "[0.41%]" in md and "[O(1)]" in md and "601,482" in md
    assert "[1.60%*]" in md and "LeCun et al. 1998" in md
    assert "Test error after every epoch" in md and "no best-of-epochs" in md
    logs = sorted(p.name for p in (out / "logs").iterdir())
    assert logs == sorted(f"{m}_{k}.csv" for m in ("mlp", "odenet", "resnet", "rknet")
                          for k in ("train_log", "epochs"))  # fmt: skip
    curves = pd.read_csv(out / "epochs.csv")
    assert list(curves["model"]) == ["mlp", "resnet", "rknet", "odenet"]  # 1 epoch each
    assert list(curves["test_error"]) == list(written["test_error"])  # the final model's
    errors = pd.read_csv(out / "fig3a_block_error.csv")
    assert list(errors["rtol"]) == [1e-1, 1e-2]
    assert errors["nfe_forward"].is_monotonic_increasing
    fig3c = pd.read_csv(out / "fig3c_nfe.csv")
    assert list(fig3c["solver"]) == ["dopri5", "dopri5-flat", "lsoda", "implicit_adams"]
    assert (fig3c["nfe_backward"] > 0).all()
    assert pd.read_csv(out / "fig3c_failures.csv").empty
    tol = pd.read_csv(out / "test_tolerance.csv")
    assert list(tol["rtol"]) == [1e-1, 1e-3] and (tol["test_images"] == 16).all()
    single = pd.read_csv(out / "single_image_nfe.csv")
    assert list(single["batch"]) == [1, 1, 1, 2, 3]  # 3 images alone, then batches 2 and 3
    drawn = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert drawn == [
        "fig3a_error_vs_nfe.png", "fig3b_time_vs_nfe.png", "fig3c_nfe_backward_vs_forward.png",
        "fig3d_nfe_over_training.png", "test_error_curve.png",
    ]  # fmt: skip
    # --resume continues the run: the checkpoints load, the measured cases are kept
    before = (out / "results.csv").read_text()
    table2 = run(dataclasses.replace(cfg, models=("mlp", "rknet")), synthetic_mnist(),
                 progress=False, resume=True)  # fmt: skip
    assert (table2["weights"] == "loaded checkpoint").all()
    assert list(table2["test_error"]) == list(table["test_error"][[0, 2]])
    assert (out / "results.csv").read_text() == before
    assert not list(tmp_path.glob("t1.backup-*"))


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".odebench.lock"}  # fmt: skip


def test_table1_refuses_a_folder_holding_a_run_and_changes_nothing(tmp_path, capsys):
    # before: `odebench table1 --budget quick` replaced the committed results (18 tracked files)
    out = tmp_path / "t1"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "odenet.pt").write_bytes(b"weights")
    (out / "table1.csv").write_text("model,test_error\nodenet,0.01\n")
    (out / "provenance.json").write_text("{}")
    before = snapshot(out)
    assert cli_main(["table1", "--budget", "quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(flag in err for flag in ("--out", "--force", "--resume")) and len(
        err.strip().splitlines()) == 1  # fmt: skip
    assert snapshot(out) == before
    assert cli_main(["table1", "--train-only", "--out", str(out)]) == 2
    assert snapshot(out) == before


def test_the_default_folder_is_one_folder_of_its_own():
    # the README's literal `odebench table1 --budget quick` runs into results/table1, which
    # holds the committed run: it is refused (above) instead of written over
    import argparse

    from odebench.cli.table1 import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["table1", "--budget", "quick"])
    assert str(args.out) == "results/table1" and not args.force and not args.resume


def test_force_moves_the_whole_earlier_run_to_a_backup_first(tmp_path):
    out = tmp_path / "t1"
    cfg = tiny_config(out, models=("mlp",))
    run(cfg, synthetic_mnist(), progress=False)
    before = snapshot(out)
    assert {"checkpoints/mlp.pt", "logs/mlp_epochs.csv", "table1.csv", "table1.md",
            "results.csv", "provenance.json"} <= set(before)  # fmt: skip
    run(cfg, synthetic_mnist(), progress=False, force=True)
    (backup,) = tmp_path.glob("t1.backup-*")
    assert snapshot(backup) == before  # everything, checkpoints and plots included
    assert (out / "checkpoints" / "mlp.pt").exists()  # retrained, not loaded


def test_table1_exits_non_zero_when_a_case_is_not_ok(tmp_path, monkeypatch, capsys):
    # before: `odebench table1` exited 0 with a case that failed
    import importlib

    table1_run = importlib.import_module("odebench.experiments.table1.run")
    out = tmp_path / "t1"

    def fake_run(cfg, data, **kwargs):
        out.mkdir(parents=True)
        rows = "case_id,repeat,status\nodenet-a,0,ok\nodenet-b,0,failed\n"
        (out / "results.csv").write_text(rows)
        return pd.DataFrame({"model": ["odenet"], "test_error": [0.01], "params": [1],
                             "nfe_forward": [20], "nfe_backward": [20]})  # fmt: skip

    monkeypatch.setattr(table1_run, "run", fake_run)
    monkeypatch.setattr("odebench.cli.table1.load_mnist", lambda root: None)
    assert cli_main(["table1", "--out", str(out)]) == 1
    assert "odenet-b" in capsys.readouterr().err


def test_trained_from_copies_finished_checkpoints_of_the_same_budget_only(tmp_path):
    from odebench.experiments.table1.train import TrainedElsewhereError, check_trained_from

    source = tmp_path / "trained"
    cfg = tiny_config(source, models=("mlp",))
    from odebench.experiments.table1.run import train_only

    first = train_only(cfg, synthetic_mnist())
    out = tmp_path / "t1"
    table = run(tiny_config(out, models=("mlp",), trained_from=source), synthetic_mnist(),
                progress=False)  # fmt: skip
    assert table["weights"].tolist() == ["loaded checkpoint"]
    assert table["test_error"].tolist() == [first["mlp"]["test_error"]]
    other = tiny_config(out, models=("mlp",), trained_from=source,
                        train=TrainConfig(epochs=2, batch_size=4, train_subset=8))  # fmt: skip
    with pytest.raises(TrainedElsewhereError, match="no finished checkpoint"):
        check_trained_from(other)


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
    with pytest.raises(SystemExit) as exit_:  # refused by argparse, before anything runs
        cli_main(["table1", "--models", "mlp,vgg"])
    assert exit_.value.code == 2
    assert "vgg" in capsys.readouterr().err


def test_test_error_is_logged_after_every_epoch_and_survives_a_resume(tmp_path, monkeypatch):
    import odebench.experiments.training as training
    from odebench.experiments.training import EPOCH_FIELDS, evaluate

    data = synthetic_mnist()
    cfg = TrainConfig(epochs=3, batch_size=4, train_subset=8, test_batch_size=8)
    torch.manual_seed(0)
    whole = build_model("mlp")
    paths = {"log_path": tmp_path / "a.csv", "checkpoint_path": tmp_path / "a.pt",
             "epochs_path": tmp_path / "a_epochs.csv"}  # fmt: skip
    result = train(whole, data, cfg, **paths)
    curve = pd.read_csv(tmp_path / "a_epochs.csv")
    assert list(curve.columns) == list(EPOCH_FIELDS)
    assert list(curve["epoch"]) == [1, 2, 3] and list(curve["iterations"]) == [2, 4, 6]
    # the last point is the final model's error, measured independently here
    assert curve["test_error"].iloc[-1] == evaluate(whole, data.test_images, data.test_labels)
    assert result.test_error == curve["test_error"].iloc[-1]
    final = torch.load(tmp_path / "a.pt", weights_only=False)
    assert "resume" not in final  # weights and metadata only: small enough to commit
    assert [e["test_error"] for e in final["meta"]["epochs"]] == list(curve["test_error"])

    calls = []
    real = training.train_step

    def dies_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", dies_in_epoch_three)
    torch.manual_seed(0)
    other = {"log_path": tmp_path / "b.csv", "checkpoint_path": tmp_path / "b.pt",
             "epochs_path": tmp_path / "b_epochs.csv"}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train(build_model("mlp"), data, cfg, **other)
    monkeypatch.setattr(training, "train_step", real)
    resumed = train(build_model("mlp"), data, cfg, **other)
    again = pd.read_csv(tmp_path / "b_epochs.csv")
    assert list(again["test_error"]) == list(curve["test_error"])
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3]


def test_the_default_budget_keeps_the_initial_rate_for_half_the_run():
    # before: 527 of 1,404 iterations at lr 0.1 (the paper's 60/160), the last 175 at 1e-4
    from odebench.experiments.table1 import BUDGETS

    b = BUDGETS["default"]
    cfg = TrainConfig(epochs=b.epochs, lr_boundaries=b.lr_boundaries)
    total = 3 * (60_000 // 128)  # 1,404
    lrs = [cfg.lr_at(i, total) for i in range(total)]
    assert lrs.count(0.1) == 702 >= total / 2
    assert min(lrs) == pytest.approx(1e-3)
    assert BUDGETS["paper"].lr_boundaries == (60 / 160, 100 / 160, 140 / 160)

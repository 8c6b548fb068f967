"""The trained fields' reference weights ship with the package: a first run trains nothing,
a damaged file is refused with the fix, and ``odebench weights`` says whether a refit differs."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

from odebench.cli.app import main
from odebench.workloads.problems import neural


def test_each_shipped_file_matches_the_sha256_of_its_bytes():
    sums = neural.shipped_checksums()
    assert set(sums) == {f"{key}.pt" for key in neural.REFERENCE_FITS}
    for name, digest in sums.items():
        assert hashlib.sha256((neural.WEIGHTS_DIR / name).read_bytes()).hexdigest() == digest


def test_the_trained_fields_load_without_fitting_or_touching_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ODEBENCH_CACHE", str(tmp_path / "cache"))

    def no_fit(*_a, **_k):
        raise AssertionError("a reference field was fitted instead of loaded")

    monkeypatch.setattr(neural, "fit_state", no_fit)
    for state_of, field in ((neural.trained_spiral_state, neural.SpiralField()),
                            (neural.trained_mlp_state, neural.MLPField(64, 64))):  # fmt: skip
        state = state_of.__wrapped__()  # past functools.cache: really loads
        field.load_state_dict(state)  # the shapes the fields expect
    assert not (tmp_path / "cache").exists()


def test_the_shipped_spiral_weights_are_not_the_untrained_field():
    torch.manual_seed(0)
    untrained = neural.SpiralField().state_dict()
    shipped = neural.load_shipped("spiral_field_200_0")
    assert any(not torch.equal(untrained[k], shipped[k]) for k in untrained)


def _copy_weights(monkeypatch, tmp_path):
    folder = tmp_path / "reference_weights"
    shutil.copytree(neural.WEIGHTS_DIR, folder)
    monkeypatch.setattr(neural, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(neural, "CHECKSUMS_FILE", folder / "SHA256SUMS")
    return folder


def test_a_damaged_weights_file_is_refused_naming_the_fix(monkeypatch, tmp_path):
    folder = _copy_weights(monkeypatch, tmp_path)
    data = bytearray((folder / "spiral_field_200_0.pt").read_bytes())
    data[-10] ^= 0xFF
    (folder / "spiral_field_200_0.pt").write_bytes(bytes(data))
    with pytest.raises(neural.WeightsError, match="checksum.*odebench weights --refit --write"):
        neural.load_shipped("spiral_field_200_0")


def test_odebench_weights_prints_a_damaged_file_as_one_line_exit_2(monkeypatch, tmp_path, capsys):
    folder = _copy_weights(monkeypatch, tmp_path)
    (folder / "mlp_field_300_0.pt").write_bytes(b"not weights")
    assert main(["weights"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match its checksum" in err


def test_a_refit_that_differs_is_reported_with_exit_1(monkeypatch, tmp_path, capsys):
    _copy_weights(monkeypatch, tmp_path)
    shipped = {k: neural.load_shipped(k) for k in neural.REFERENCE_FITS}
    nudged = {k: {n: v + (0.5 if k == "mlp_field_300_0" else 0.0) for n, v in s.items()}
              for k, s in shipped.items()}  # fmt: skip
    monkeypatch.setattr(neural, "fit_state", lambda fit: nudged[keys.pop(0)])
    keys = list(neural.REFERENCE_FITS)
    assert main(["weights", "--refit"]) == 1
    out = capsys.readouterr().out
    assert "spiral_field_200_0: the refit is bit for bit the shipped weights" in out
    assert "mlp_field_300_0: the refit DIFFERS" in out and "0.5" in out

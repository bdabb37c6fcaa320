import numpy as np
from click.testing import CliRunner

import stamp_sim.workflows.validate as validation
from kernels import MatmulResult
from stamp_sim.cli import main


def test_validate_agrees_and_prints_the_table():
    result = CliRunner().invoke(main, ["validate", "--cases", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header[:4] == ["case", "backend", "mismatches", "overflows"]
    assert "all-max int8" in result.output and "int layer vs float" in result.output
    assert "layer-sized w8a8, P=16 saturate (64 outputs checked)" in result.output
    assert result.stdout.rstrip().endswith("checks agree")


def test_validate_exits_non_zero_on_a_mismatch(monkeypatch):
    real = validation.int_matmul

    def off_by_one(x, w, acc, backend="auto", **kw):
        res = real(x, w, acc, backend=backend, **kw)
        if backend == "numba" and res.values.size:
            return MatmulResult(res.values + 1, res.overflows)
        return res

    monkeypatch.setattr(validation, "int_matmul", off_by_one)
    result = CliRunner().invoke(main, ["validate", "--cases", "0", "--backend", "numba"])
    assert result.exit_code == 1
    assert "mismatching outputs" in result.output


def test_validate_bad_option():
    result = CliRunner().invoke(main, ["validate", "--cases", "-1"])
    assert result.exit_code == 2 and "--cases" in result.output


def test_layer_cases_meet_the_float32_bound():
    table = validation.validate(n_random=0, seed=3, backends=())
    layers = table[table.backend == "int layer vs float"]
    assert len(layers) == 4 and (layers.mismatches == 0).all()
    assert np.all(layers.float32_err_over_bound <= 1.0)

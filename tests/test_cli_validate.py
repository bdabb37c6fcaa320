import numpy as np
from click.testing import CliRunner

import stamp_sim.workflows.validate as validation
from stamp_sim.kernels import MatmulResult
from stamp_sim.cli import main


def test_validate_agrees_and_prints_the_table():
    result = CliRunner().invoke(main, ["validate", "--cases", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("exact GEMM: ")
    header = result.stdout.splitlines()[1].split()
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


def test_validate_explains_its_columns_and_names_its_stages():
    result = CliRunner().invoke(main, ["validate", "--cases", "1", "--backend", "numba"])
    assert result.exit_code == 0, result.output
    for note in validation.COLUMN_NOTES:
        assert note in result.stdout
    for stage in ("kernel cases vs reference", "layer-sized GEMMs vs reference", "integer STaMP layers vs float"):
        assert stage in result.stderr
    assert "0case" not in result.stderr and " case" in result.stderr


def test_validate_says_it_compiles_before_a_first_run(monkeypatch):
    import stamp_sim.kernels.numba_backend as nb

    monkeypatch.setattr(nb, "has_compiled_cache", lambda: False)
    result = CliRunner().invoke(main, ["validate", "--cases", "0", "--backend", "numba"])
    assert result.exit_code == 0, result.output
    assert result.stderr.index("compiling Numba kernels (first run") < result.stderr.index("kernel cases")
    monkeypatch.setattr(nb, "has_compiled_cache", lambda: True)
    result = CliRunner().invoke(main, ["validate", "--cases", "0", "--backend", "numba"])
    assert "compiling Numba kernels" not in result.stderr


def test_the_numba_cache_check_looks_for_compiled_scans(tmp_path, monkeypatch):
    from stamp_sim.kernels.numba_backend import has_compiled_cache

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not has_compiled_cache()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "_scan.scan_sat-120.py311.nbi").write_bytes(b"")
    assert has_compiled_cache()


def test_validate_names_the_exact_gemm_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("STAMP_SIM_CACHE", str(tmp_path))
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", "float32")
    result = CliRunner().invoke(main, ["validate", "--cases", "0"])
    assert result.exit_code == 0, result.output
    assert "exact GEMM: float32 (forced by STAMP_SIM_EXACT_GEMM)" in result.output.splitlines()[0]


def test_validate_refuses_an_unknown_engine_in_one_line(monkeypatch):
    monkeypatch.setenv("STAMP_SIM_EXACT_GEMM", "tensor")
    result = CliRunner().invoke(main, ["validate", "--cases", "0"])
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "STAMP_SIM_EXACT_GEMM" in lines[0] and "float32" in lines[0], result.output

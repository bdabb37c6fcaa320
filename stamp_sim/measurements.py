"""A user's measured latencies (the CSV `stamp-sim calibrate` reads), checked at the edge.

Columns (other columns, e.g. a source or a device note, are allowed and ignored):

- ``model``: anything ``--model`` accepts that is a causal LM (a card such as llama-3.2-3b);
- ``config``: a preset name, or a name defined in the ``--configs`` file;
- ``phase``: prefill or decode;
- ``tokens``: the prompt length (prefill, >= 1) or the context length (decode, >= 0);
- ``measured_ms``: milliseconds of the whole prefill call, or of one decoded token (> 0).

Every problem of the file is reported, one line each, naming the file, the row (data rows
count from 1; the line of the file is given too), the column, the value and what is allowed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Mapping

from stamp_sim.config import ALL_PRESETS, MixedConfig, PrecisionConfig
from stamp_sim.hw_models.yaml_io import short_repr
from stamp_sim.latency_basis import MeasuredForward

__all__ = ["COLUMNS", "MAX_TOKENS", "MeasurementsError", "read_measurements"]

COLUMNS = ("model", "config", "phase", "tokens", "measured_ms")
MAX_TOKENS = 1 << 20  # as `stamp-sim cost --tokens`
_MAX_BYTES = 8 << 20
_MAX_PROBLEMS = 20


class MeasurementsError(ValueError):
    """The measurements file is missing, unreadable or has bad rows (one line per problem)."""


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise MeasurementsError(f"{path}: larger than {_MAX_BYTES} bytes; allowed: a CSV of at most that size")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MeasurementsError(f"{path}: cannot read the measurements file ({exc.strerror or type(exc).__name__})") \
            from None
    except UnicodeDecodeError as exc:
        raise MeasurementsError(f"{path}: not UTF-8 text (byte {exc.start}); allowed: a UTF-8 CSV file") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MeasurementsError(f"{path}: missing column(s) {', '.join(missing)}; allowed: a CSV whose header has "
                                f"{', '.join(COLUMNS)} (got {short_repr(', '.join(header))})")
    reader.fieldnames = header
    rows = []
    for record in reader:
        rows.append((reader.line_num, {k: (v or "").strip() if isinstance(v, str) else v for k, v in record.items()}))
    if not rows:
        raise MeasurementsError(f"{path}: no data rows; allowed: one or more measured forwards")
    return header, rows


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check_model(model: str, known: dict[str, str | None]) -> str | None:
    """None when `model` is a causal LM, else the resolver's one-line reason (cached per name)."""
    if model not in known:
        from stamp_sim.models.architecture import decoder_shape

        try:
            decoder_shape(model)
            known[model] = None
        except ValueError as exc:
            known[model] = (str(exc).strip().splitlines() or ["not a model"])[0]
    return known[model]


def read_measurements(path: str | Path,
                      configs: Mapping[str, PrecisionConfig | MixedConfig] | None = None) -> list[MeasuredForward]:
    """The measured forwards of the CSV at `path` (module docstring), in file order.

    configs : configs by name (from a --configs file) besides the presets; a name here
    replaces a preset of the same name. Raises MeasurementsError listing every problem.
    """
    path = Path(path)
    _, rows = _read_rows(path)
    named = {**ALL_PRESETS, **(configs or {})}
    problems: list[str] = []
    models: dict[str, str | None] = {}
    out = []
    for i, (line, rec) in enumerate(rows, start=1):
        where = f"{path}: row {i} (line {line})"
        bad = len(problems)
        model, config, phase = rec.get("model") or "", rec.get("config") or "", rec.get("phase") or ""
        if not model:
            problems.append(f"{where}, column model: empty; allowed: a causal LM --model accepts (stamp-sim models)")
        elif (reason := _check_model(model, models)) is not None:
            problems.append(f"{where}, column model: got {short_repr(model)}: {reason}")
        if config not in named:
            problems.append(f"{where}, column config: got {short_repr(config)}; allowed: a preset "
                            f"({', '.join(sorted(ALL_PRESETS))}) or a name in the --configs file"
                            + (f" ({', '.join(sorted(configs))})" if configs else ""))
        if phase not in ("prefill", "decode"):
            problems.append(f"{where}, column phase: got {short_repr(phase)}; allowed: decode, prefill")
        tokens_text = rec.get("tokens") or ""
        low = 1 if phase == "prefill" else 0
        tokens = int(tokens_text) if tokens_text.lstrip("+").isdigit() else None
        if tokens is None or not low <= tokens <= MAX_TOKENS:
            what = "prompt length" if phase == "prefill" else "context length"
            problems.append(f"{where}, column tokens: got {short_repr(tokens_text)}; allowed: the {what}, an integer "
                            f"{low}..{MAX_TOKENS}")
        measured_text = rec.get("measured_ms") or ""
        measured = _number(measured_text)
        if measured is None or measured <= 0:
            problems.append(f"{where}, column measured_ms: got {short_repr(measured_text)}; allowed: a finite number "
                            "> 0 (milliseconds of the prefill call, or of one decoded token)")
        if len(problems) >= _MAX_PROBLEMS:
            problems.append(f"{path}: stopped after {_MAX_PROBLEMS} problems")
            break
        if len(problems) == bad:
            out.append(MeasuredForward(model=model, config=named[config], phase=phase, tokens=tokens,
                                       measured_ms=measured, label=f"row {i}"))
    if problems:
        raise MeasurementsError("\n".join(problems))
    return out

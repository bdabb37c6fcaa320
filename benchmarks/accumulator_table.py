"""The AXE paper's table on your model: perplexity against accumulator width per weight method.

    python benchmarks/accumulator_table.py configs.yaml [--acts w4a8,w4a4] [--widths 12-20]
    stamp-sim run --configs configs.yaml --int-layers 0 --windows 2     # the run
    python benchmarks/accumulator_table.py --table reports/<run>/results.csv

The first form writes a configs file: for each activation width, each weight method
(RTN, GPTQ, RTN + A2Q+, AXE on GPTQ, AXE on GPFQ), each accumulator (single stage at
every width of --widths, and 16-bit inner / 32-bit outer with tiles of 64 and 128) and
each mode (wrap, saturate). ``stamp-sim run`` evaluates them through the integer kernels
wherever the accumulator can overflow and reports them; its report has the "accumulator
width vs accuracy" section and figure. The last form prints the table from results.csv
(perplexity, and in brackets the overflow rate in percent, two significant digits).
"""

from __future__ import annotations

import argparse
import sys

import yaml

METHODS = {  # label -> config fields
    "RTN": {"weight_method": "rtn"},
    "GPTQ": {"weight_method": "gptq", "gptq_act_order": True},
    "RTN+A2Q+": {"weight_method": "rtn", "weight_l1": "a2q+"},
    "AXE-GPTQ": {"weight_method": "gptq", "gptq_act_order": True, "weight_l1": "a2q+"},
    "AXE-GPFQ": {"weight_method": "gpfq", "weight_l1": "a2q+"},
}
MULTI = {"T64": 64, "T128": 128}


def _widths(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def configs(acts: list[str], widths: list[int], modes=("wrap", "saturate")) -> list[dict]:
    """The config mappings of the table, named act-method-accumulator-mode."""
    out = []
    for act in acts:
        for label, fields in METHODS.items():
            accs = [(f"acc{b}", {"bits": b}) for b in widths]
            accs += [(f"acc16-{t}", {"bits": 16, "tile": tile, "outer_bits": 32}) for t, tile in MULTI.items()]
            for acc_name, acc in accs:
                for mode in modes:
                    out.append({"extends": act, "name": f"{act}-{label.lower()}-{acc_name}-{mode}",
                                "description": f"{act.upper()} {label}, {acc_name} {mode}",
                                **fields, "accumulator": {**acc, "mode": mode}})
    return out


def table(path: str) -> str:
    """results.csv -> a pivot: rows (activation, method), columns accumulator x mode."""
    import pandas as pd

    res = pd.read_csv(path).drop_duplicates("config")
    parts = res["config"].str.extract(r"^(?P<act>w\d+a\d+)-(?P<method>.+?)-(?P<accum>acc\d+(?:-T\d+)?)-(?P<mode>\w+)$")
    res = pd.concat([res, parts], axis=1).dropna(subset=["act"])
    res["cell"] = [f"{p:.4g} ({100 * r:.2g}%)" for p, r in zip(res["ppl"], res["overflow_rate"].fillna(0))]
    pivot = res.pivot_table(index=["act", "method", "mode"], columns="accum", values="cell", aggfunc="first")
    order = sorted(pivot.columns, key=lambda c: (len(c) > 5, int(c[3:5]), c))
    return pivot[order].to_string()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="configs YAML file to write")
    parser.add_argument("--acts", default="w4a8,w4a4", help="presets the configs extend")
    parser.add_argument("--widths", default="12-20", help="single-stage accumulator widths, e.g. 12-20")
    parser.add_argument("--modes", default="wrap,saturate")
    parser.add_argument("--table", help="print the table of a finished run's results.csv")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.out:
        parser.error("give the configs file to write, or --table RESULTS_CSV")
    items = configs(args.acts.split(","), _widths(args.widths), tuple(args.modes.split(",")))
    with open(args.out, "w") as f:
        yaml.safe_dump(items, f, sort_keys=False)
    print(f"{len(items)} configs written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The STaMP paper's LLM table on your model: FP, RTN, SmoothQuant and QuaRot-style
baselines, each with and without STaMP, at W4A4 and W4A4KV4.

    python benchmarks/stamp_llm_table.py configs.yaml [--sink]      # write the configs
    stamp-sim run --configs configs.yaml --tokens 512 --windows 4    # the run
    python benchmarks/stamp_llm_table.py --table reports/<run>/results.csv

Every row keeps 64 (transformed) tokens at 8 bits and the rest at 4, in the activations
and, at KV4, in the K / V cache (the paper's W4A4KV4 baseline vs STaMP's W4A4.125KV4.125
at 2048 tokens): each pair is at the same average bits. SmoothQuant and QuaRot-style use
GPTQ weights (act order), as the paper's baselines do; RTN rounds weights to nearest.
The STaMP rows transform every token (sink_tokens 0, the reference algorithm); ``--sink``
adds each again with the first token kept out of the transform (the presets' default).
The table prints perplexity, KL (nats), average activation and KV bits per row, and
whether STaMP lowered perplexity.
"""

from __future__ import annotations

import argparse
import sys

import yaml

BASELINES = {  # label -> (baseline preset, STaMP twin preset)
    "RTN": ("w4a4-first64", "w4a4-stamp"),
    "SmoothQuant": ("w4a4-sq-gptq", "w4a4-sq-gptq-stamp"),
    "QuaRot": ("w4a4-quarot", "w4a4-quarot-stamp"),
}
KV = {"W4A4": None, "W4A4KV4": 4}


def configs(sink: bool = False) -> list:
    """The table's configs: fp, then per (baseline, KV width) the baseline and its STaMP twin."""
    out: list = ["fp"]
    for label, (base, twin) in BASELINES.items():
        for kv_label, kv in KV.items():
            tag = f"{label.lower()}-{kv_label.lower()}"
            fields = {} if kv is None else {"kv_bits": kv}
            out.append({"extends": base, "name": f"{tag}", "description": f"{label} {kv_label}", **fields})
            out.append({"extends": twin, "name": f"{tag}-stamp", "description": f"{label} {kv_label} + STaMP",
                        "baseline": tag, "sink_tokens": 0, **fields})
            if sink:
                out.append({"extends": twin, "name": f"{tag}-stamp-sink", "sink_tokens": 1, "baseline": tag,
                            "description": f"{label} {kv_label} + STaMP, first token kept out", **fields})
    return out


def table(path: str) -> str:
    """results.csv -> one line per (baseline, KV width): ppl and KL without and with STaMP."""
    import pandas as pd

    res = pd.read_csv(path, dtype={"config": str}, keep_default_na=False, na_values=[""]).drop_duplicates("config")
    by = res.set_index("config")
    lines = [f"tokens {int(res.tokens.iloc[0])}, windows {int(res.windows.iloc[0])}; FP ppl {by.loc['fp', 'ppl']:.2f}",
             "| method | KV | ppl | +STaMP ppl | KL | +STaMP KL | avg a bits | avg kv bits | STaMP lowers ppl |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label in BASELINES:
        for kv_label in KV:
            tag = f"{label.lower()}-{kv_label.lower()}"
            for twin in (f"{tag}-stamp", f"{tag}-stamp-sink"):
                if tag not in by.index or twin not in by.index:
                    continue
                b, s = by.loc[tag], by.loc[twin]
                lines.append(f"| {label}{' (sink kept)' if twin.endswith('sink') else ''} | {kv_label} | "
                             f"{b.ppl:.2f} | {s.ppl:.2f} | {b.kl:.3f} | {s.kl:.3f} | {s.avg_a_bits:.3f} | "
                             f"{s.avg_kv_bits:.3f} | {'yes' if s.ppl < b.ppl else 'no'} "
                             f"({100 * (s.ppl / b.ppl - 1):+.1f}%) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="configs YAML to write")
    ap.add_argument("--sink", action="store_true", help="add STaMP rows with the first token kept out")
    ap.add_argument("--table", metavar="RESULTS_CSV", help="print the table from a run's results.csv")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    if not args.out:
        ap.error("give a configs YAML to write, or --table RESULTS_CSV")
    with open(args.out, "w") as fh:
        yaml.safe_dump({"configs": configs(args.sink)}, fh, sort_keys=False)
    print(f"wrote {len(configs(args.sink))} configs to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

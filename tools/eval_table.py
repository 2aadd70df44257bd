"""Print, as Markdown, the accuracy of every loadable recognition model × alignment × metric on
each pair list, by running `faceverify eval --json` once per model and alignment.

usage: eval_table.py FACEVERIFY_BIN PAIRS.csv…
"""
import json
import subprocess
import sys
from pathlib import Path

ALIGNMENTS = ["box", "eye_rotation", "similarity"]


def main() -> None:
    binary, pair_lists = sys.argv[1], sys.argv[2:]
    manifest = json.loads((Path(__file__).parent.parent / "models" / "manifest.json").read_text())
    rows = {}
    for model in (m for m in manifest["models"] if m["kind"] == "embedder" and m["sha256"]):
        default = model["alignment"]["method"]
        for alignment in ALIGNMENTS:
            args = [binary, "eval", "--model", model["id"], "--alignment", alignment, "--json"]
            for pairs in pair_lists:
                args += ["--pairs", pairs]
            report = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
            for name, metrics in report["lists"].items():
                if " + " in name:
                    continue
                for metric, r in metrics.items():
                    mark = " (default)" if alignment == default else ""
                    rows.setdefault(name, []).append(
                        f"| {model['id']} | {alignment}{mark} | {metric} | {r['accuracy']:.4f} at {r['threshold']:.4g} "
                        f"| {r['balanced_accuracy']:.4f} | {r['cv_accuracy']:.4f} | {r['auc']:.4f} "
                        f"| {r['tar_at_far_1e-3']:.3f} | {r['d_prime']:.2f} | {r['n_failed']} |")
    for name, lines in rows.items():
        print(f"\n{name}\n")
        print("| model | alignment | metric | accuracy at threshold | balanced | cv accuracy | AUC | TAR@FAR 1e-3 | d′ | failed |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Print the accuracy table of every recognition model × alignment × metric on labelled pairs,
as Markdown, by running `faceverify eval --json` for each combination.

usage: eval_table.py FACEVERIFY_BIN PAIRS.csv
"""
import json
import subprocess
import sys
from pathlib import Path

ALIGNMENTS = ["box", "eye_rotation", "similarity"]


def main() -> None:
    binary, pairs = sys.argv[1], sys.argv[2]
    manifest = json.loads((Path(__file__).parent.parent / "models" / "manifest.json").read_text())
    print("| model | alignment | metric | accuracy at threshold | cv accuracy | AUC | TAR@FAR 1e-3 | d′ | failed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in (m for m in manifest["models"] if m["kind"] == "embedder" and m["sha256"]):
        default = model["alignment"]["method"]
        for alignment in ALIGNMENTS:
            out = subprocess.run([binary, "eval", "--model", model["id"], "--alignment", alignment,
                                  "--pairs", pairs, "--json"], check=True, capture_output=True, text=True)
            report = json.loads(out.stdout)
            for metric, r in report["metrics"].items():
                mark = " (default)" if alignment == default else ""
                print(f"| {model['id']} | {alignment}{mark} | {metric} | {r['accuracy']:.4f} at {r['threshold']:.4g} "
                      f"| {r['cv_accuracy']:.4f} | {r['auc']:.4f} | {r['tar_at_far_1e-3']:.3f} "
                      f"| {r['d_prime']:.2f} | {r['n_failed']} |")


if __name__ == "__main__":
    main()

"""dlib's own pipeline beside faceverify, pair by pair: the yardstick for accuracy work.

dlib's pipeline is PyPI `face_recognition` 1.3.0 on `dlib-bin` with `face_recognition_models`
0.3.0, as its users run it: HOG detector (upsample 1), the largest face, 5-point landmarks,
`face_encodings`, accept at euclidean ≤ 0.6 (dlib's LFW operating point). faceverify's
embeddings come from `faceverify embed --json`. Both pipelines' figures are computed here by
the same code, so they compare like for like.

    reference.py compare --cli target/release/faceverify --pairs A.csv [--pairs B.csv …] [--json]
    reference.py annotate IMAGE…     # dlib's HOG box, 5 landmarks and embedding per image, CSV

`compare` prints, per pair list: the embedding distance ours ↔ dlib's for every photo
(mean, median, worst), both pipelines' accuracy at their shipped thresholds, best accuracy,
10-fold cross-validated accuracy, AUC, and how often their verdicts agree. Pair lists are
CSVs with `file_x,file_y` and `same` (1/0) or `Decision` (Yes/No), paths relative to the
CSV's folder. dlib's results are cached by file content in target/reference/.
"""
import argparse
import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

DLIB_THRESHOLD = 0.6
CACHE = Path(__file__).resolve().parent.parent / "target" / "reference" / "dlib.json"


def dlib_analyze(path: Path):
    """dlib's pipeline on one photo: (embedding, HOG box (l, t, r, b), 5 landmarks) of the
    largest face, or None when HOG finds none."""
    import face_recognition as fr
    import face_recognition_models
    import dlib

    image = fr.load_image_file(str(path))
    boxes = fr.face_locations(image, 1, "hog")
    if not boxes:
        return None
    top, right, bottom, left = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    encoding = fr.face_encodings(image, [(top, right, bottom, left)], 1, "small")[0]
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    shape = predictor(image, dlib.rectangle(left, top, right, bottom))
    return {"embedding": encoding.tolist(), "box": [left, top, right, bottom],
            "landmarks": [[p.x, p.y] for p in shape.parts()], "faces": len(boxes)}


class DlibCache:
    def __init__(self):
        self.entries = json.loads(CACHE.read_text()) if CACHE.exists() else {}

    def get(self, path: Path):
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        if key not in self.entries:
            self.entries[key] = dlib_analyze(path)
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_text(json.dumps(self.entries))
        return self.entries[key]


def shipped_threshold(model):
    manifest = json.loads((Path(__file__).resolve().parent.parent / "models" / "manifest.json").read_text())
    model = model or manifest["default_embedder"]
    entry = next(m for m in manifest["models"] if m["id"] == model)
    return entry["thresholds"]["euclidean"]["value"]


def read_pairs(path: Path):
    with path.open() as f:
        rows = list(csv.DictReader(f))
    label = "same" if "same" in rows[0] else "Decision"
    truth = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    return [(r["file_x"], r["file_y"], truth[r[label].strip().lower()]) for r in rows]


def ours(cli: str, files, extra):
    """faceverify's embedding per file (None when it found no face)."""
    out = {}
    for start in range(0, len(files), 200):
        batch = [str(f) for f in files[start:start + 200]]
        result = subprocess.run([cli, "embed", "--json", *extra, *batch], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            row = json.loads(line)
            out[row["file"]] = row.get("embedding")
    return [out.get(str(f)) for f in files]


def figures(distances, same, threshold):
    """Accuracy at `threshold` (a pair without a face counts wrong), the same with both classes
    weighted equally, best accuracy, 10-fold CV accuracy, AUC, as `faceverify eval` computes
    them."""
    d = np.array([np.inf if x is None else x for x in distances])
    y = np.array(same)
    ok = np.isfinite(d)

    def accuracy(t, idx=slice(None)):
        return float(np.mean((d[idx] <= t) == y[idx]) if ok[idx].all() else np.mean(((d[idx] <= t) == y[idx]) & ok[idx]))

    def best(idx):
        finite = np.sort(d[idx][np.isfinite(d[idx])])
        candidates = np.concatenate([[finite[0] - 1e-3], (finite[1:] + finite[:-1]) / 2, [finite[-1] + 1e-3]])
        scores = [accuracy(t, idx) for t in candidates]
        top = max(scores)
        tied = [t for t, s in zip(candidates, scores) if s == top]
        middle = (tied[0] + tied[-1]) / 2
        return middle if accuracy(middle, idx) == top else tied[0]

    n = len(d)
    fold = np.arange(n) * 10 // n
    cv = sum(accuracy(best(fold != k), fold == k) * np.sum(fold == k) for k in range(10)) / n
    s, o = d[y & ok], d[~y & ok]
    auc = float(np.mean((s[:, None] < o[None, :]) + 0.5 * (s[:, None] == o[None, :]))) if len(s) and len(o) else 0.0
    all_idx = np.ones(n, bool)
    balanced = (np.mean((d[y] <= threshold) & ok[y]) + np.mean((d[~y] > threshold) & ok[~y])) / 2
    return {"accuracy": accuracy(threshold), "balanced_accuracy": float(balanced), "threshold": threshold,
            "best_accuracy": accuracy(best(all_idx)),
            "best_threshold": float(best(all_idx)), "cv_accuracy": float(cv), "auc": auc, "failed": int((~ok).sum())}


def compare(args):
    cache = DlibCache()
    cli_extra = [] if args.model is None else ["--model", args.model]
    report = {}
    for pairs_path in args.pairs:
        rows = read_pairs(pairs_path)
        root = pairs_path.parent
        files = sorted({f for x, y, _ in rows for f in (x, y)})
        paths = [root / f for f in files]
        mine = dict(zip(files, ours(args.cli, paths, cli_extra)))
        theirs = {f: cache.get(p) for f, p in zip(files, paths)}
        gaps = {f: float(np.linalg.norm(np.array(mine[f]) - np.array(theirs[f]["embedding"])))
                for f in files if mine[f] is not None and theirs[f] is not None}
        dist = lambda e, x, y: None if e[x] is None or e[y] is None else float(np.linalg.norm(np.array(e[x]) - np.array(e[y])))
        dlib_embeddings = {f: None if theirs[f] is None else theirs[f]["embedding"] for f in files}
        same = [s for _, _, s in rows]
        our_d = [dist(mine, x, y) for x, y, _ in rows]
        dlib_d = [dist(dlib_embeddings, x, y) for x, y, _ in rows]
        our_t = args.threshold if args.threshold is not None else shipped_threshold(args.model)
        our_fig, dlib_fig = figures(our_d, same, our_t), figures(dlib_d, same, DLIB_THRESHOLD)
        verdict = lambda d, t: None if d is None else d <= t
        agree = np.mean([verdict(a, our_t) == verdict(b, DLIB_THRESHOLD) for a, b in zip(our_d, dlib_d)])
        worst = sorted(gaps.items(), key=lambda kv: -kv[1])[:5]
        report[pairs_path.name] = {
            "pairs": len(rows), "same": int(sum(same)), "photos": len(files),
            "embedding_distance_to_dlib": {"mean": float(np.mean(list(gaps.values()))),
                                           "median": float(np.median(list(gaps.values()))),
                                           "max": float(max(gaps.values())), "worst": worst},
            "faceverify": our_fig, "dlib": dlib_fig, "agreement": float(agree),
            "faceverify_no_face": [f for f in files if mine[f] is None],
            "dlib_no_face": [f for f in files if theirs[f] is None]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, r in report.items():
        g = r["embedding_distance_to_dlib"]
        print(f"{name}: {r['pairs']} pairs ({r['same']} same), {r['photos']} photos")
        print(f"  embedding distance faceverify ↔ dlib: mean {g['mean']:.4f}, median {g['median']:.4f}, "
              f"worst {g['max']:.4f} ({g['worst'][0][0]})")
        print("  pipeline      accuracy at threshold   balanced   best     cv       AUC      failed pairs")
        for who in ("faceverify", "dlib"):
            f = r[who]
            print(f"  {who:<13} {f['accuracy']:.4f} at {f['threshold']:.4f}       {f['balanced_accuracy']:.4f}     "
                  f"{f['best_accuracy']:.4f}   {f['cv_accuracy']:.4f}   {f['auc']:.4f}   {f['failed']}")
        print(f"  verdicts agree on {r['agreement']:.2%} of pairs")


def annotate(args):
    writer = csv.writer(sys.stdout)
    columns = ["box_left", "box_top", "box_right", "box_bottom"] + [f"{axis}{i}" for i in range(5) for axis in "xy"]
    if args.embeddings:
        columns += [f"e{i}" for i in range(128)]
    writer.writerow(["file"] + columns)
    cache = DlibCache()
    for path in args.images:
        result = cache.get(path)
        if result is None:
            writer.writerow([path] + [""] * len(columns))
            continue
        row = [*result["box"], *[v for p in result["landmarks"] for v in p]]
        if args.embeddings:
            row += [f"{v:.6f}" for v in result["embedding"]]
        writer.writerow([path, *row])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="faceverify vs dlib's pipeline over pair lists")
    c.add_argument("--cli", required=True)
    c.add_argument("--pairs", type=Path, action="append", required=True)
    c.add_argument("--model", help="faceverify recognition model (default: the manifest's)")
    c.add_argument("--threshold", type=float, help="faceverify's euclidean threshold (default: the manifest's)")
    c.add_argument("--json", action="store_true")
    a = sub.add_parser("annotate", help="dlib's HOG box and 5 landmarks of each image, CSV")
    a.add_argument("--embeddings", action="store_true", help="dlib's 128-d embedding too")
    a.add_argument("images", type=Path, nargs="+")
    args = parser.parse_args()
    {"compare": compare, "annotate": annotate}[args.command](args)


if __name__ == "__main__":
    main()

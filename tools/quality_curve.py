"""Error versus discard: how many verification errors go away when the pairs whose poorer
face has the lowest quality are set aside (the standard way to judge a quality score, as in
ISO/IEC 29794-1 and NIST's FRVT quality evaluations).

    quality_curve.py CLI PAIRS.csv SVG

Every image of the pair list goes through `CLI embed --json` once (embedding and the quality
of the face it embedded); each pair is scored by the lower of its two qualities and decided at
the recognition model's own threshold. Prints the false-accept and false-reject rates (FAR,
FRR) and the share of errors removed at 0–30 % discarded, and writes the curve as SVG.
Pairs where a face was not found (failure to acquire, ISO/IEC 19795) make no comparison: they
are counted apart, not in the curve.
"""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

FRACTIONS = [i / 100 for i in range(0, 31)]


def main():
    cli, pairs_csv, svg = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    root = pairs_csv.parent
    rows = [(root / r["file_x"], root / r["file_y"], r["same"] in ("1", "true", "yes"))
            for r in csv.DictReader(pairs_csv.open())]
    files = sorted({str(p) for x, y, _ in rows for p in (x, y)})
    faces = {}
    for start in range(0, len(files), 200):
        out = subprocess.run([cli, "embed", "--json", *files[start:start + 200]], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            d = json.loads(line)
            if "embedding" in d:
                faces[d["file"]] = (d["embedding"], d["face"]["quality"]["score"] if d["face"].get("quality") else 0.0)
    threshold = float(sys.argv[4]) if len(sys.argv) > 4 else model_threshold()
    scored, unacquired = [], 0
    for x, y, same in rows:
        a, b = faces.get(str(x)), faces.get(str(y))
        if a is None or b is None:
            unacquired += 1
            continue
        distance = math.dist(a[0], b[0])
        scored.append((min(a[1], b[1]), same, distance <= threshold))
    scored.sort(key=lambda s: s[0])
    points = []
    errors0 = sum(1 for _, same, accepted in scored if same != accepted)
    print(f"{pairs_csv.name}: {len(scored)} pairs compared ({sum(s[1] for s in scored)} same; {unacquired} more without a face), "
          f"threshold {threshold:.4f}, {errors0} errors")
    print("discarded  FAR      FRR      errors  removed")
    for f in FRACTIONS:
        kept = scored[round(f * len(scored)):]
        diff = [s for s in kept if not s[1]]
        same = [s for s in kept if s[1]]
        far = sum(1 for s in diff if s[2]) / max(1, len(diff))
        frr = sum(1 for s in same if not s[2]) / max(1, len(same))
        errors = sum(1 for s in kept if s[1] != s[2])
        removed = 1 - errors / errors0 if errors0 else 0.0
        points.append((f, far, frr, removed))
        if round(f * 100) % 5 == 0:
            print(f"{f:8.0%}  {far:.4f}   {frr:.4f}   {errors:5d}   {removed:6.1%}")
    svg.write_text(plot(points, f"{pairs_csv.name}: {len(scored)} pairs, {errors0} errors at {threshold:.3f}"))


def model_threshold() -> float:
    manifest = json.loads((Path(__file__).resolve().parent.parent / "models" / "manifest.json").read_text())
    spec = next(m for m in manifest["models"] if m["id"] == manifest["default_embedder"])
    return spec["thresholds"]["euclidean"]["value"]


def plot(points, title: str) -> str:
    w, h, left, top, right, bottom = 660, 400, 60, 40, 44, 50
    pw, ph = w - left - right, h - top - bottom
    top_rate = max(max(p[1], p[2]) for p in points) * 1.1 or 1.0
    x = lambda f: left + f / 0.30 * pw
    y = lambda v, scale: top + ph - v / scale * ph
    def line(i, scale, colour, label, dy):
        path = " ".join(f"{'M' if k == 0 else 'L'}{x(p[0]):.1f},{y(p[i], scale):.1f}" for k, p in enumerate(points))
        return (f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                f'<text x="{left + 10}" y="{top + dy}" fill="{colour}" font-size="13">{label}</text>')
    ticks = "".join(f'<text x="{x(f):.1f}" y="{h - bottom + 18}" font-size="11" text-anchor="middle">{f:.0%}</text>'
                    for f in (0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30))
    rate_ticks = "".join(f'<text x="{left - 6}" y="{y(v, top_rate) + 4:.1f}" font-size="11" text-anchor="end">{v:.3f}</text>'
                         for v in (0, top_rate / 2, top_rate / 1.1))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
            f'<rect width="{w}" height="{h}" fill="white"/>'
            f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="14">Error versus discard — {title}</text>'
            f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>{ticks}{rate_ticks}'
            f'<text x="{left + pw / 2}" y="{h - 12}" text-anchor="middle" font-size="12">share of pairs discarded (lowest quality of the two faces first)</text>'
            + line(1, top_rate, "#c0392b", "FAR (false accepts / different pairs)", 18)
            + line(2, top_rate, "#2c7fb8", "FRR (false rejects / same pairs)", 36)
            + line(3, 1.0, "#555", "errors removed (right axis, 0–100 %)", 54)
            + "".join(f'<text x="{w - right + 4}" y="{y(v, 1.0) + 4:.1f}" font-size="11">{v:.0%}</text>' for v in (0, 0.5, 1.0))
            + "</svg>")


if __name__ == "__main__":
    main()

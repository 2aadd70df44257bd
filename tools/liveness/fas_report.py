"""Tables for docs/liveness-research.md from fas_eval.py's JSON (and, when given, the human-models
antispoof/liveness scores on the same set, a JSON with results[].{label, antispoof, liveness}
where higher = live).

    fas_report.py FAS_SCORES.json [HUMAN_SCORES.json]

ISO/IEC 30107-3: APCER = share of attack presentations accepted as bona fide (per attack type),
BPCER = share of bona fide presentations rejected. "BPCER ~ 5 %" = the strictest threshold
that rejects at most 5 % of the bona fide images (3 of 67).
"""
import json
import sys

import numpy as np

fas = json.load(open(sys.argv[1]))
R = fas["results"]
labels = np.array([r["label"] for r in R])
s = np.array([r["score"] for r in R])
lap = np.array([r["laplacian"] for r in R])
det = np.array([r["on_face"] for r in R])


def auc_live_low(score):
    b = score[labels == "bona_fide"]
    return {k: float(np.mean([(x < y) + 0.5 * (x == y) for x in b for y in score[labels == k]])) for k in ("print", "replay")}


def rates(accept):
    return (100 * np.mean(~accept[labels == "bona_fide"]), 100 * np.mean(accept[labels == "print"]), 100 * np.mean(accept[labels == "replay"]))


def t_bpcer5(live_score_low):
    b = np.sort(live_score_low[labels == "bona_fide"])
    return b[int(np.ceil(0.95 * len(b))) - 1]


print("| model / rule | threshold | BPCER | APCER print | APCER replay | AUC print | AUC replay |")
print("|---|---|---|---|---|---|---|")
a = auc_live_low(s)
t5 = t_bpcer5(s)
rows = [("FaceAntiSpoofing score only", "score < 0.2 (package)", s < 0.2),
        ("FaceAntiSpoofing score only", f"score ≤ {t5:.4f} (BPCER ≈ 5 %)", s <= t5),
        ("expo pipeline: MTCNN face, Laplacian ≥ 50, score", "< 0.2", det & (lap >= 50) & (s < 0.2)),
        ("original Android app: Laplacian ≥ 1000, score", "< 0.2", det & (lap >= 1000) & (s < 0.2)),
        ("Laplacian count alone (no model)", "≥ 50", lap >= 50),
        ("Laplacian count alone (no model)", "≥ 1000", lap >= 1000)]
for name, thr, acc in rows:
    bp, ap, ar = rates(acc)
    au = f"{a['print']:.3f} | {a['replay']:.3f}" if "score" in name else ("— | —" if "alone" not in name else "")
    if "alone" in name:
        al = auc_live_low(-lap.astype(float))
        au = f"{al['print']:.3f} | {al['replay']:.3f}"
    print(f"| {name} | {thr} | {bp:.1f} % | {ap:.1f} % | {ar:.1f} % | {au} |")
if len(sys.argv) > 2:
    hum = {r["file"]: r for r in json.load(open(sys.argv[2]))["results"]}
    for key in ("antispoof", "liveness"):
        h = -np.array([hum[r["file"]][key] for r in R])          # negate: lower = live
        ah = auc_live_low(h)
        th = t_bpcer5(h)
        bp, ap, ar = rates(h <= th)
        print(f"| human-models {key} (Human's crop) | BPCER ≈ 5 % ({-th:.3f}) | {bp:.1f} % | {ap:.1f} % | {ar:.1f} % | {ah['print']:.3f} | {ah['replay']:.3f} |")

print("\nScore distribution (FaceAntiSpoofing, lower = live):")
print("| set | n | MTCNN found the face | < 0.05 | 0.05–0.2 | 0.2–0.8 | 0.8–0.95 | ≥ 0.95 | median | Laplacian < 50 | < 1000 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for lab in ("bona_fide", "print", "replay"):
    m = labels == lab
    v = s[m]
    bins = [np.sum(v < 0.05), np.sum((v >= 0.05) & (v < 0.2)), np.sum((v >= 0.2) & (v < 0.8)), np.sum((v >= 0.8) & (v < 0.95)), np.sum(v >= 0.95)]
    print(f"| {lab} | {m.sum()} | {det[m].sum()} | " + " | ".join(str(int(b)) for b in bins) +
          f" | {np.median(v):.3f} | {(lap[m] < 50).sum()} | {(lap[m] < 1000).sum()} |")
print(f"\nparity ONNX vs LiteRT: max |d| outputs {fas['parity'][0]:.1e}, score {fas['parity'][1]:.1e}, leaf-mask flips {fas['parity'][2]}")
print(f"MTCNN box vs dlib box (median over bona fide): {fas['fit']}")

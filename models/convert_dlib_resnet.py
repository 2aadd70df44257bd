"""Convert dlib's ResNet-34 face descriptor (`dlib_face_recognition_resnet_model_v1.dat`,
128-d) to ONNX.

The weights are dlib's own, read from its serialisation (`dlib_dat.read_dnn_layers`): 29
convolutions, each followed by a per-channel affine (folded into the conv here), and a fully
connected layer. The topology is dlib's `anet_type` (dnn_face_recognition_ex.cpp): a 7×7
stride-2 conv and a 3×3 stride-2 max-pool, then residual blocks; a downsampling block's
strided convs pad nothing, its shortcut is a 2×2 average pool zero-padded to the new channel
count, and the conv branch is zero-padded bottom/right where the sizes differ (dlib's
`add_prev` adds tensors of different sizes as if the smaller one were zero-padded).

Each folded conv's weights are stored as uint8 per output channel, `q · scale + offset`, which
the graph computes at load (Cast, Mul, Add): 5.8 MB instead of 22.4 MB float32. Measured on
dlib's own chips of the 70 shared photos, embeddings are 0.012 (mean euclidean) from dlib's
own; float32 would be 0.0009, and face-api's port of the same net (one uint8 range per
tensor) 0.037. Input is NCHW float RGB already normalised by the caller ((x − mean) / 255,
per the manifest); output `embedding` [1, 128] is not L2-normalised, as in dlib.

usage: convert_dlib_resnet.py dlib_face_recognition_resnet_model_v1.dat OUT.onnx
"""
import sys
from pathlib import Path

import numpy as np
import onnx

from dlib_dat import read_dnn_layers
from onnx_builder import GraphBuilder

SIZE = 150
MEAN = [122.782, 117.001, 104.298]
# (block, downsamples) in forward order: 3 blocks of 32 channels, 4 of 64, 3 of 128, 3 of
# 256, then a last downsampling block of 256.
BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2 \
    + [(256, True)] + [(256, False)] * 2 + [(256, True)]


def conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def read_convs(dat: Path):
    """dlib's layers as (folded OIHW weights, bias, stride) per conv, and the fc matrix."""
    layers = read_dnn_layers(dat.read_bytes())
    kinds = [kind for kind, _ in layers]
    if kinds != ["input"] + ["con", "affine"] * (1 + 2 * len(BLOCKS)) + ["fc"]:
        raise ValueError(f"{dat}: not dlib's face recognition ResNet ({len(layers)} layers)")
    if not np.allclose(layers[0][1], MEAN, atol=1e-3):
        raise ValueError(f"{dat}: unexpected input mean {layers[0][1]}")
    convs = []
    for (_, (filters, bias, stride, padding)), (_, (gamma, beta)) in zip(layers[1:-1:2], layers[2:-1:2]):
        expected_padding = 0 if stride[0] > 1 else filters.shape[2] // 2
        if stride[0] != stride[1] or padding != (expected_padding, expected_padding):
            raise ValueError(f"{dat}: unexpected conv stride {stride} / padding {padding}")
        convs.append((filters * gamma[:, None, None, None], bias * gamma + beta, stride[0]))
    return convs, layers[-1][1]


class Converter:
    def __init__(self, convs, fc):
        self.convs = iter(convs)
        self.fc = fc
        self.g = GraphBuilder()
        self.index = 0

    def conv(self, x: str, relu: bool) -> str:
        weight, bias, stride = next(self.convs)
        hint = f"conv{self.index}"
        self.index += 1
        low = weight.min(axis=(1, 2, 3))
        step = (weight.max(axis=(1, 2, 3)) - low) / 255
        step[step == 0] = 1
        q = np.round((weight - low[:, None, None, None]) / step[:, None, None, None]).astype(np.uint8)
        per_out = lambda v: v[:, None, None, None].astype(np.float32)
        w = self.g.dequantized(q, per_out(step), per_out(low), hint)
        k = weight.shape[2]
        pad = 0 if stride > 1 else k // 2
        out = self.g.conv(x, w, bias, hint, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
        return self.g.op("Relu", [out]) if relu else out

    def residual(self, x: str, size: int, channels: int, out_channels: int, down: bool):
        out = self.conv(x, relu=True)
        out = self.conv(out, relu=False)
        shortcut, out_size = x, size
        if down:
            shortcut = self.g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            out_size = size // 2
            grow = out_size - conv_out(size, 3, 2)
            if grow:
                out = self.g.op("Pad", [out, self.g.const(np.array([0, 0, 0, 0, 0, 0, grow, grow]))])
            if out_channels != channels:
                extra = out_channels - channels
                shortcut = self.g.op("Pad", [shortcut, self.g.const(np.array([0, 0, 0, 0, 0, extra, 0, 0]))])
        out = self.g.op("Add", [out, shortcut])
        return self.g.op("Relu", [out]), out_size

    def build(self) -> onnx.ModelProto:
        x = self.conv("input", relu=True)
        x = self.g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
        size, channels = conv_out(conv_out(SIZE, 7, 2), 3, 2), 32
        for out_channels, down in BLOCKS:
            x, size = self.residual(x, size, channels, out_channels, down)
            channels = out_channels
        x = self.g.op("GlobalAveragePool", [x])
        x = self.g.op("Flatten", [x])
        fc = self.g.const(self.fc.astype(np.float32), "fc")
        self.g.rename(self.g.op("MatMul", [x, fc]), "embedding")
        return self.g.model({"input": [1, 3, SIZE, SIZE]}, ["embedding"],
                            "dlib ResNet-34 face descriptor (dlib_face_recognition_resnet_model_v1)")


def main() -> None:
    dat, out = Path(sys.argv[1]), Path(sys.argv[2])
    onnx.save(Converter(*read_convs(dat)).build(), out)


if __name__ == "__main__":
    main()

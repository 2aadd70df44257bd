"""Convert face-api's port of dlib's ResNet-34 face descriptor (128-d) to ONNX.

The architecture is face-api's `FaceRecognitionNet` (src/faceRecognitionNet/): every conv is
conv + bias followed by a per-channel scale `x*w + b`, which folds into the conv. The filters
stay the package's uint8 values: folded, each output channel's weights are `q * a + b`, which
the graph computes at load (Cast, Mul, Add), so the file is 6 MB instead of 22 MB float32. Input is
NCHW float RGB already normalised by the caller ((x - mean) / 255, per the manifest); output
`embedding` [1, 128] is not L2-normalised, as in dlib.

usage: convert_dlib_resnet.py WEIGHTS_MANIFEST.json OUT.onnx
"""
import sys
from pathlib import Path

import numpy as np
import onnx

from onnx_builder import GraphBuilder
from tfjs import Quantized, read_weights_manifest

SIZE = 150
# (block name, downsamples) in forward order.
BLOCKS = [("conv32_1", False), ("conv32_2", False), ("conv32_3", False),
          ("conv64_down", True), ("conv64_1", False), ("conv64_2", False), ("conv64_3", False),
          ("conv128_down", True), ("conv128_1", False), ("conv128_2", False),
          ("conv256_down", True), ("conv256_1", False), ("conv256_2", False),
          ("conv256_down_out", True)]


def conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


class Converter:
    def __init__(self, weights: dict):
        self.w = weights
        self.g = GraphBuilder()

    def float(self, name: str) -> np.ndarray:
        value = self.w[name]
        return value.dequantize() if isinstance(value, Quantized) else value

    def shape(self, name: str) -> tuple:
        value = self.w[name]
        return (value.values if isinstance(value, Quantized) else value).shape

    def conv(self, x: str, prefix: str, stride: int, relu: bool) -> str:
        """conv + bias + scale, folded; 'valid' when strided, 'same' otherwise (as face-api)."""
        filters = self.w[prefix + "/conv/filters"]            # HWIO
        scale = self.float(prefix + "/scale/weights")
        per_out = lambda v: v[:, None, None, None]
        if isinstance(filters, Quantized):
            weight = self.g.dequantized(filters.values.transpose(3, 2, 0, 1), per_out(filters.scale * scale),
                                        per_out(filters.min * scale), prefix.replace("/", "_"))
        else:
            weight = filters.transpose(3, 2, 0, 1) * per_out(scale)
        bias = self.float(prefix + "/conv/bias") * scale + self.float(prefix + "/scale/biases")
        k = self.shape(prefix + "/conv/filters")[0]
        pad = 0 if stride > 1 else k // 2
        out = self.g.conv(x, weight, bias, prefix.replace("/", "_"), kernel_shape=[k, k],
                          strides=[stride, stride], pads=[pad] * 4)
        return self.g.op("Relu", [out]) if relu else out

    def residual(self, x: str, name: str, size: int, channels: int, down: bool):
        out = self.conv(x, name + "/conv1", 2 if down else 1, relu=True)
        out = self.conv(out, name + "/conv2", 1, relu=False)
        shortcut, out_size = x, size
        out_channels = self.shape(name + "/conv2/conv/filters")[3]
        if down:
            shortcut = self.g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            out_size = size // 2
            conv_size = conv_out(size, 3, 2)
            if conv_size != out_size:
                # face-api pads the conv branch with zeros at the bottom and right.
                grow = out_size - conv_size
                out = self.g.op("Pad", [out, self.g.const(np.array([0, 0, 0, 0, 0, 0, grow, grow]))])
            if out_channels != channels:
                extra = out_channels - channels
                shortcut = self.g.op("Pad", [shortcut, self.g.const(np.array([0, 0, 0, 0, 0, extra, 0, 0]))])
        out = self.g.op("Add", [out, shortcut])
        return self.g.op("Relu", [out]), out_size, out_channels

    def build(self) -> onnx.ModelProto:
        x = self.conv("input", "conv32_down", 2, relu=True)
        x = self.g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
        size, channels = conv_out(conv_out(SIZE, 7, 2), 3, 2), 32
        for name, down in BLOCKS:
            x, size, channels = self.residual(x, name, size, channels, down)
        x = self.g.op("GlobalAveragePool", [x])
        x = self.g.op("Flatten", [x])
        fc = self.g.const(self.float("fc").astype(np.float32), "fc")
        self.g.rename(self.g.op("MatMul", [x, fc]), "embedding")
        return self.g.model({"input": [1, 3, SIZE, SIZE]}, ["embedding"],
                            "dlib ResNet-34 face descriptor, from @vladmandic/face-api")


def main() -> None:
    manifest, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = Converter(read_weights_manifest(manifest, keep_quantized=True)).build()
    onnx.save(model, out)


if __name__ == "__main__":
    main()

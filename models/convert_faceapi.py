"""Convert face-api's age/gender and expression nets (`@vladmandic/face-api` model/*.bin) to ONNX.

face-api ships TF.js weight manifests only; the architectures are in the package's src/:

- age_gender (`ageGenderNet/AgeGenderNet.ts`, `xception/TinyXception.ts` with 2 main blocks):
  conv_in 3×3 stride 2 + ReLU; two reduction blocks (separable convs, 3×3 stride-2 max-pool,
  plus a 1×1 stride-2 "expansion" conv of the block input; the first block's input is not
  ReLU'd); two residual main blocks of three separable convs; an exit reduction block and a
  separable conv to 512 channels + ReLU; 7×7 average pool; fc/age 512→1 (years) and
  fc/gender 512→2, softmax, ordered [male, female] (`predictAgeAndGender` reads index 0 as
  the male probability).
- expression (`faceExpressionNet/FaceExpressionNet.ts`, `faceFeatureExtractor/`): four
  `denseBlock4` (first conv plain, the rest separable; each block downsamples by 2), 7×7
  average pool, fc 256→7, softmax; labels in `FaceExpressions.ts` order.

TF 'same' padding is written as explicit pads (TF puts the odd pixel at the end). Separable
convs are a depthwise Conv (group = channels) then a 1×1 Conv carrying the bias. Every
weight is uint8 in the package (one `q · scale + min` range per tensor) and stays uint8 in
the file, dequantised in the graph (Cast, Mul, Add), which runtimes fold at load; biases
are float32 as stored. Ops: Conv, Relu, Add, MaxPool, AveragePool, Flatten, Gemm, Softmax.

Input `input` [1, 3, 112, 112] NCHW RGB already normalised by the caller,
(x − [122.782, 117.001, 104.298]) / 255, as face-api's `normalize(...).div(255)` does.

usage: convert_faceapi.py {age_gender|expression} PACKAGE_DIR OUT.onnx
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx

from onnx_builder import GraphBuilder
from tfjs import Quantized, read_weights

SIZE = 112
MODELS = {"age_gender": "age_gender_model", "expression": "face_expression_model"}


def same_pads(size: int, kernel: int, stride: int):
    """TF 'SAME': output ceil(size / stride), the odd padding pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2], out


class Converter:
    def __init__(self, weights: dict):
        self.w = weights
        self.used = set()
        self.g = GraphBuilder()

    def take(self, name: str):
        self.used.add(name)
        return self.w[name]

    def quantized(self, name: str, layout) -> str:
        """A stored uint8 tensor, rearranged by `layout` (a function of the array), as a
        dequantised graph tensor."""
        t = self.take(name)
        if not isinstance(t, Quantized):
            raise ValueError(f"{name}: expected a uint8 tensor")
        values = np.ascontiguousarray(layout(t.values))
        hint = name.replace("/", "_")
        return self.g.dequantized(values, np.float32(t.scale), np.float32(t.min), hint)

    def bias(self, name: str) -> str:
        b = self.take(name)
        if isinstance(b, Quantized):
            b = b.dequantize()
        return self.g.const(b.astype(np.float32), name.replace("/", "_"))

    def conv(self, x: str, size: int, prefix: str, stride: int):
        """Plain conv (HWIO filters) + bias, TF 'same'."""
        kh = self.w[prefix + "/filters"].values.shape[0]
        w = self.quantized(prefix + "/filters", lambda v: v.transpose(3, 2, 0, 1))
        pads, out = same_pads(size, kh, stride)
        y = self.g.op("Conv", [x, w, self.bias(prefix + "/bias")], prefix.replace("/", "_"),
                      kernel_shape=[kh, kh], strides=[stride, stride], pads=pads)
        return y, out

    def separable(self, x: str, size: int, prefix: str, stride: int = 1):
        """tf.separableConv2d(..., 'same') + bias: depthwise (stride here), then 1×1."""
        kh, _, channels, mult = self.w[prefix + "/depthwise_filter"].values.shape
        dw = self.quantized(prefix + "/depthwise_filter",
                            lambda v: v.transpose(2, 3, 0, 1).reshape(channels * mult, 1, kh, kh))
        pw = self.quantized(prefix + "/pointwise_filter", lambda v: v.transpose(3, 2, 0, 1))
        pads, out = same_pads(size, kh, stride)
        hint = prefix.replace("/", "_")
        y = self.g.op("Conv", [x, dw], hint + "_dw", group=channels, kernel_shape=[kh, kh],
                      strides=[stride, stride], pads=pads)
        y = self.g.op("Conv", [y, pw, self.bias(prefix + "/bias")], hint + "_pw", kernel_shape=[1, 1])
        return y, out

    def relu(self, x: str) -> str:
        return self.g.op("Relu", [x])

    def fc(self, x: str, prefix: str) -> str:
        w = self.quantized(prefix + "/weights", lambda v: v)
        return self.g.op("Gemm", [x, w, self.bias(prefix + "/bias")], prefix.replace("/", "_"))

    def pooled(self, x: str) -> str:
        """tf.avgPool(x, [7, 7], [2, 2], 'valid') on the 7×7 map, flattened."""
        x = self.g.op("AveragePool", [x], kernel_shape=[7, 7], strides=[2, 2])
        return self.g.op("Flatten", [x], axis=1)

    # TinyXception (xception/TinyXception.ts)
    def reduction_block(self, x: str, size: int, prefix: str, activate_input: bool = True):
        out = self.relu(x) if activate_input else x
        out, _ = self.separable(out, size, prefix + "/separable_conv0")
        out, _ = self.separable(self.relu(out), size, prefix + "/separable_conv1")
        pads, pooled = same_pads(size, 3, 2)
        out = self.g.op("MaxPool", [out], kernel_shape=[3, 3], strides=[2, 2], pads=pads)
        shortcut, _ = self.conv(x, size, prefix + "/expansion_conv", 2)
        return self.g.op("Add", [out, shortcut]), pooled

    def main_block(self, x: str, size: int, prefix: str) -> str:
        out = x
        for i in range(3):
            out, _ = self.separable(self.relu(out), size, f"{prefix}/separable_conv{i}")
        return self.g.op("Add", [out, x])

    def age_gender(self) -> onnx.ModelProto:
        x, size = self.conv("input", SIZE, "entry_flow/conv_in", 2)
        x = self.relu(x)
        x, size = self.reduction_block(x, size, "entry_flow/reduction_block_0", activate_input=False)
        x, size = self.reduction_block(x, size, "entry_flow/reduction_block_1")
        for i in range(2):
            x = self.main_block(x, size, f"middle_flow/main_block_{i}")
        x, size = self.reduction_block(x, size, "exit_flow/reduction_block")
        x, size = self.separable(x, size, "exit_flow/separable_conv")
        if size != 7:
            raise ValueError(f"unexpected feature map size {size}")
        x = self.pooled(self.relu(x))
        self.g.rename(self.fc(x, "fc/age"), "age")
        self.g.rename(self.g.op("Softmax", [self.fc(x, "fc/gender")], axis=1), "gender")
        return self.finish(["age", "gender"], "face-api AgeGenderNet (TinyXception, 2 main blocks): "
                           "age in years, gender probabilities [male, female]")

    # FaceFeatureExtractor (faceFeatureExtractor/denseBlock.ts): denseBlock4, or denseBlock3
    # (the tiny landmark net's) with `convs=3`. Each conv's input is the sum of all earlier
    # outputs (after ReLU); the block's output is the sum of all of them.
    def dense_block(self, x: str, size: int, prefix: str, first: bool, convs: int = 4):
        if first:
            out1, size = self.conv(x, size, prefix + "/conv0", 2)
        else:
            out1, size = self.separable(x, size, prefix + "/conv0", 2)
        outs = [self.relu(out1)]
        for i in range(1, convs):
            sum_in = outs[0] if i == 1 else self.relu(self.nested_sum(outs))
            out, _ = self.separable(sum_in, size, f"{prefix}/conv{i}")
            outs.append(out)
        return self.relu(self.nested_sum(outs)), size

    def nested_sum(self, terms: list) -> str:
        """a + (b + (c + …)), in face-api's order (float addition is not associative)."""
        total = terms[-1]
        for term in reversed(terms[:-1]):
            total = self.g.op("Add", [term, total])
        return total

    def features(self) -> str:
        """FaceFeatureExtractor.forwardInput: 4 dense blocks, 112 → 7 px, then the 7×7 mean."""
        x, size = "input", SIZE
        for i in range(4):
            x, size = self.dense_block(x, size, f"dense{i}", first=i == 0)
        if size != 7:
            raise ValueError(f"unexpected feature map size {size}")
        return self.pooled(x)

    def expression(self) -> onnx.ModelProto:
        x = self.fc(self.features(), "fc")
        self.g.rename(self.g.op("Softmax", [x], axis=1), "expression")
        return self.finish(["expression"], "face-api FaceExpressionNet: probabilities of neutral, happy, "
                           "sad, angry, fearful, disgusted, surprised")

    def finish(self, outputs: list, doc: str) -> onnx.ModelProto:
        unused = sorted(set(self.w) - self.used)
        if unused:
            raise ValueError(f"weights not used by the architecture: {unused}")
        return self.g.model({"input": [1, 3, SIZE, SIZE]}, outputs, doc)


def main(models: dict = MODELS, converter: type = Converter, usage: str = __doc__) -> None:
    """`WHICH PACKAGE_DIR OUT.onnx` from the command line: `converter.WHICH()` on the weights
    of `models[WHICH]` (a subclass may add nets: tools/liveness/)."""
    if len(sys.argv) != 4 or sys.argv[1] not in models:
        sys.exit(usage.strip().splitlines()[-1])
    which, package, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    model_dir = package / "model"
    manifest = json.loads((model_dir / f"{models[which]}-weights_manifest.json").read_text())
    onnx.save(getattr(converter(read_weights(manifest, model_dir, keep_quantized=True)), which)(), out)


if __name__ == "__main__":
    main()

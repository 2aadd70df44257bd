"""Build OpenFace's nn4.small2 as ONNX from the official Torch7 weights or from
Keras-OpenFace-style CSV folders.

The graph follows OpenFace's `models/openface/nn4.small2.def.lua` (with dpnn's Inception and
DepthConcat): 96×96 RGB in [0, 1]; SpatialCrossMapLRN(5, 1e-4, 0.75); L2 pooling as
Pow → AveragePool → Mul → Sqrt (tract has no windowed LpPool); pool branches that come out
smaller than the others are zero-padded around their centre, as DepthConcat does; a final
L2 normalisation. Batch norms are folded into their convolutions.

usage: convert_openface.py (--t7 nn4.small2.v1.t7 | --csv WEIGHTS_DIR) OUT.onnx

CSV folders hold one file per tensor, comma-separated numbers in Torch's element order:
`<conv>_w.csv` (out × in × kh × kw), `<conv>_b.csv`, `<bn>_w.csv`, `<bn>_b.csv`, `<bn>_m.csv`
(running mean), `<bn>_v.csv` (running variance), `dense_w.csv` (128 × 736), `dense_b.csv`,
with the layer names of `LAYERS` (conv1, bn1, …, inception_3a_3x3_conv1, …).
"""
import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

import t7
from onnx_builder import GraphBuilder

INPUT_SIZE = 96
EMBEDDING_SIZE = 128
BN_EPS = 1e-5          # Torch's default, used when a file does not say
LRN = dict(size=5, alpha=1e-4, beta=0.75, bias=1.0)


@dataclass(frozen=True)
class Conv:
    """A convolution followed by its batch norm (and, in the graph, a ReLU)."""
    name: str
    bn: str
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    pad: int = 0


@dataclass(frozen=True)
class Inception:
    """dpnn's nn.Inception: kxk branches (1×1 reduce, then kxk), a pool branch (optionally
    followed by a 1×1 conv), and an optional plain 1×1 branch, concatenated in that order."""
    name: str
    cin: int
    kernels: tuple          # (kernel, reduce, out, stride) per kxk branch
    pool: str               # "max" or "l2"
    pool_stride: int
    pool_reduce: int = 0    # 0: the pool branch has no 1×1 conv
    one_by_one: int = 0     # 0: no plain 1×1 branch

    def convs(self):
        for kernel, reduce, out, stride in self.kernels:
            k = f"{kernel}x{kernel}"
            yield Conv(f"inception_{self.name}_{k}_conv1", f"inception_{self.name}_{k}_bn1", self.cin, reduce, 1)
            yield Conv(f"inception_{self.name}_{k}_conv2", f"inception_{self.name}_{k}_bn2", reduce, out, kernel,
                       stride, kernel // 2)
        if self.pool_reduce:
            yield Conv(f"inception_{self.name}_pool_conv", f"inception_{self.name}_pool_bn", self.cin, self.pool_reduce, 1)
        if self.one_by_one:
            yield Conv(f"inception_{self.name}_1x1_conv", f"inception_{self.name}_1x1_bn", self.cin, self.one_by_one, 1)


STEM = (Conv("conv1", "bn1", 3, 64, 7, 2, 3), Conv("conv2", "bn2", 64, 64, 1), Conv("conv3", "bn3", 64, 192, 3, 1, 1))
INCEPTIONS = (
    Inception("3a", 192, ((3, 96, 128, 1), (5, 16, 32, 1)), "max", 1, 32, 64),
    Inception("3b", 256, ((3, 96, 128, 1), (5, 32, 64, 1)), "l2", 1, 64, 64),
    Inception("3c", 320, ((3, 128, 256, 2), (5, 32, 64, 2)), "max", 2),
    Inception("4a", 640, ((3, 96, 192, 1), (5, 32, 64, 1)), "l2", 1, 128, 256),
    Inception("4e", 640, ((3, 160, 256, 2), (5, 64, 128, 2)), "max", 2),
    Inception("5a", 1024, ((3, 96, 384, 1),), "l2", 1, 96, 256),
    Inception("5b", 736, ((3, 96, 384, 1),), "max", 1, 96, 256),
)
DENSE_IN = 736
# Every convolution in forward order: the order Torch stores them in, too.
LAYERS = STEM + tuple(c for block in INCEPTIONS for c in block.convs())


def parameter_count(weights: dict) -> int:
    """Trainable parameters as Torch counts them: conv and linear weights and biases, batch-norm
    scales and shifts (running statistics are buffers, not parameters)."""
    total = sum(weights[c.name]["weight"].size + weights[c.name]["bias"].size
                + weights[c.bn]["weight"].size + weights[c.bn]["bias"].size for c in LAYERS)
    return total + weights["dense"]["weight"].size + weights["dense"]["bias"].size


def check_shapes(weights: dict) -> None:
    def expect(name, key, shape):
        actual = tuple(np.shape(weights[name][key]))
        if actual != tuple(shape):
            raise ValueError(f"{name}.{key} has shape {actual}, nn4.small2 needs {tuple(shape)}")
    for c in LAYERS:
        expect(c.name, "weight", (c.cout, c.cin, c.kernel, c.kernel))
        expect(c.name, "bias", (c.cout,))
        for key in ("weight", "bias", "running_mean", "running_var"):
            expect(c.bn, key, (c.cout,))
    expect("dense", "weight", (EMBEDDING_SIZE, DENSE_IN))
    expect("dense", "bias", (EMBEDDING_SIZE,))


# ---------------------------------------------------------------- reading weights

def from_csv(folder: Path) -> dict:
    def read(stem, shape):
        path = folder / f"{stem}.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing")
        values = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=1).ravel()
        if values.size != np.prod(shape):
            raise ValueError(f"{path} has {values.size} numbers, nn4.small2 needs {int(np.prod(shape))}")
        return values.reshape(shape).astype(np.float32)
    weights = {}
    for c in LAYERS:
        weights[c.name] = {"weight": read(f"{c.name}_w", (c.cout, c.cin, c.kernel, c.kernel)),
                           "bias": read(f"{c.name}_b", (c.cout,))}
        weights[c.bn] = {key: read(f"{c.bn}_{suffix}", (c.cout,)) for key, suffix in
                         (("weight", "w"), ("bias", "b"), ("running_mean", "m"), ("running_var", "v"))}
        weights[c.bn]["eps"] = BN_EPS
    weights["dense"] = {"weight": read("dense_w", (EMBEDDING_SIZE, DENSE_IN)), "bias": read("dense_b", (EMBEDDING_SIZE,))}
    return weights


CONV_CLASSES = {"nn.SpatialConvolutionMM", "nn.SpatialConvolution", "cudnn.SpatialConvolution"}
BN_CLASSES = {"nn.SpatialBatchNormalization", "cudnn.SpatialBatchNormalization"}
LINEAR_CLASSES = {"nn.Linear"}


def parametrised_modules(module):
    """Conv, batch-norm and linear modules under `module`, in forward order."""
    if not isinstance(module, t7.TorchObject):
        return
    if module.class_name in CONV_CLASSES | BN_CLASSES | LINEAR_CLASSES:
        yield module
        return
    children = module.get("modules")
    if isinstance(children, dict):
        for key in sorted(children):        # Lua array: keys 1..n, stored in any order
            yield from parametrised_modules(children[key])
    elif module.get("module") is not None:  # a decorator without its `modules` list
        yield from parametrised_modules(module["module"])


def from_t7(path: Path) -> dict:
    root = t7.load(path.read_bytes())
    modules = list(parametrised_modules(root))
    expected = [(c, kind) for c in LAYERS for kind in ("conv", "bn")] + [(None, "linear")]
    if len(modules) != len(expected):
        raise ValueError(f"{path}: {len(modules)} conv/batch-norm/linear modules, nn4.small2 has {len(expected)}")
    weights = {}
    for module, (conv, kind) in zip(modules, expected):
        cls = module.class_name
        if kind == "conv":
            if cls not in CONV_CLASSES:
                raise ValueError(f"{path}: expected a convolution for {conv.name}, found {cls}")
            geometry = (int(module["kW"]), int(module["kH"]), int(module["dW"]), int(module["dH"]),
                        int(module.get("padW", module.get("padding", 0))), int(module.get("padH", module.get("padding", 0))))
            want = (conv.kernel, conv.kernel, conv.stride, conv.stride, conv.pad, conv.pad)
            if geometry != want:
                raise ValueError(f"{path}: {conv.name} is (kW, kH, dW, dH, padW, padH) {geometry}, nn4.small2 has {want}")
            weight = np.asarray(module["weight"], np.float32)
            if weight.size != conv.cout * conv.cin * conv.kernel ** 2:
                raise ValueError(f"{path}: {conv.name} has {weight.size} weights, nn4.small2 needs "
                                 f"{conv.cout * conv.cin * conv.kernel ** 2}")
            # SpatialConvolutionMM keeps its weight as out × (in·kh·kw): same element order.
            weights[conv.name] = {"weight": weight.reshape(conv.cout, conv.cin, conv.kernel, conv.kernel),
                                  "bias": np.asarray(module["bias"], np.float32)}
        elif kind == "bn":
            if cls not in BN_CLASSES:
                raise ValueError(f"{path}: expected a batch norm after {conv.name}, found {cls}")
            eps = float(module.get("eps", BN_EPS))
            if module.get("running_var") is not None:
                var = np.asarray(module["running_var"], np.float32)
            elif module.get("running_std") is not None:
                # Torch before 2016 stored 1/sqrt(var + eps) as running_std.
                var = 1.0 / np.square(np.asarray(module["running_std"], np.float64)) - eps
            else:
                raise ValueError(f"{path}: {conv.bn} has neither running_var nor running_std")
            weights[conv.bn] = {"weight": np.asarray(module["weight"], np.float32),
                                "bias": np.asarray(module["bias"], np.float32),
                                "running_mean": np.asarray(module["running_mean"], np.float32),
                                "running_var": np.asarray(var, np.float32), "eps": eps}
        else:
            if cls not in LINEAR_CLASSES:
                raise ValueError(f"{path}: expected the final nn.Linear, found {cls}")
            weights["dense"] = {"weight": np.asarray(module["weight"], np.float32),
                                "bias": np.asarray(module["bias"], np.float32)}
    return weights


# ---------------------------------------------------------------- the graph

class Nn4Graph:
    def __init__(self, weights: dict):
        check_shapes(weights)
        self.g, self.w = GraphBuilder(), weights

    def conv_bn_relu(self, x: str, c: Conv) -> str:
        conv, bn = self.w[c.name], self.w[c.bn]
        scale = bn["weight"].astype(np.float64) / np.sqrt(bn["running_var"].astype(np.float64) + bn["eps"])
        weight = conv["weight"] * scale[:, None, None, None]
        bias = (conv["bias"] - bn["running_mean"]) * scale + bn["bias"]
        y = self.g.conv(x, weight, bias, c.name, kernel_shape=[c.kernel] * 2, strides=[c.stride] * 2, pads=[c.pad] * 4)
        return self.g.op("Relu", [y])

    def max_pool(self, x: str, stride: int) -> str:
        return self.g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[stride] * 2, pads=[1, 1, 1, 1])

    def lrn(self, x: str, channels: int) -> str:
        """ONNX's LRN written out: x / (bias + alpha/size · Σ x²)^beta, the sum over the `size`
        channels centred on each (fewer at the ends), as a 1×1 convolution with a band of ones.
        Spelt in core operators because tract's LRN is an ONNX extension that NNEF (what the
        browser loads) only reads through tract-onnx's operator library."""
        half = (LRN["size"] - 1) // 2
        near = np.abs(np.arange(channels)[:, None] - np.arange(channels)[None, :])
        band = (near <= half).astype(np.float32)
        squared = self.g.op("Mul", [x, x])
        window = self.g.op("Conv", [squared, self.g.const(band[:, :, None, None], "lrn_band")], kernel_shape=[1, 1])
        scaled = self.g.op("Mul", [window, self.g.const(np.float32(LRN["alpha"] / LRN["size"]))])
        base = self.g.op("Add", [scaled, self.g.const(np.float32(LRN["bias"]))])
        return self.g.op("Div", [x, self.g.op("Pow", [base, self.g.const(np.float32(LRN["beta"]))])])

    def l2_pool(self, x: str) -> str:
        """Torch's SpatialLPPooling(p=2, 3×3, stride 1): sqrt(9 · mean(x²)) over each window."""
        squared = self.g.op("Pow", [x, self.g.const(np.float32(2.0))])
        mean = self.g.op("AveragePool", [squared], kernel_shape=[3, 3], strides=[1, 1])
        return self.g.op("Sqrt", [self.g.op("Mul", [mean, self.g.const(np.float32(9.0))])])

    def inception(self, x: str, block: Inception, size: int) -> tuple:
        convs = iter(block.convs())
        branches = []
        for _, _, _, stride in block.kernels:
            y = self.conv_bn_relu(x, next(convs))
            branches.append((self.conv_bn_relu(y, next(convs)), stride))
        if block.pool == "max":
            pooled, pooled_size = self.max_pool(x, block.pool_stride), None
        else:
            pooled, pooled_size = self.l2_pool(x), size - 2
        if block.pool_reduce:
            pooled = self.conv_bn_relu(pooled, next(convs))
        out_size = (size + 2 - 3) // block.kernels[0][3] + 1
        if pooled_size is not None and pooled_size < out_size:
            # DepthConcat centres the smaller map: pad floor(d/2) before, the rest after.
            before = (out_size - pooled_size) // 2
            after = out_size - pooled_size - before
            pads = np.array([0, 0, before, before, 0, 0, after, after], np.int64)
            pooled = self.g.op("Pad", [pooled, self.g.const(pads)])
        branches.append((pooled, None))
        if block.one_by_one:
            branches.append((self.conv_bn_relu(x, next(convs)), None))
        return self.g.op("Concat", [b for b, _ in branches], axis=1), out_size

    def build(self, doc: str) -> onnx.ModelProto:
        conv1, conv2, conv3 = STEM
        x = self.conv_bn_relu("input", conv1)
        x = self.lrn(self.max_pool(x, 2), conv1.cout)
        x = self.conv_bn_relu(self.conv_bn_relu(x, conv2), conv3)
        x = self.max_pool(self.lrn(x, conv3.cout), 2)
        size = INPUT_SIZE // 8
        for block in INCEPTIONS:
            x, size = self.inception(x, block, size)
        x = self.g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1])
        x = self.g.op("Flatten", [x], axis=1)
        dense = self.w["dense"]
        x = self.g.op("Gemm", [x, self.g.const(dense["weight"].astype(np.float32)),
                               self.g.const(dense["bias"].astype(np.float32))], transB=1)
        # nn.Normalize(2): x / ‖x‖₂ (its 1e-10 guard kept as a floor on the squared norm).
        norm = self.g.op("Sqrt", [self.g.op("Max", [
            self.g.op("ReduceSum", [self.g.op("Mul", [x, x]), self.g.const(np.array([1], np.int64))], keepdims=1),
            self.g.const(np.float32(1e-20))])])
        self.g.rename(self.g.op("Div", [x, norm]), "embedding")
        return self.g.model({"input": [1, 3, INPUT_SIZE, INPUT_SIZE]}, ["embedding"], doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--t7", type=Path, help="OpenFace's nn4.small2.v1.t7")
    source.add_argument("--csv", type=Path, help="folder of Keras-OpenFace-style CSV weights")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    weights = from_t7(args.t7) if args.t7 else from_csv(args.csv)
    origin = args.t7.name if args.t7 else f"{args.csv.name}/ (CSV)"
    model = Nn4Graph(weights).build(f"OpenFace nn4.small2 from {origin}; {parameter_count(weights)} parameters")
    onnx.save(model, args.out)
    print(f"convert_openface: {args.out} from {origin}, {parameter_count(weights)} parameters")


if __name__ == "__main__":
    main()

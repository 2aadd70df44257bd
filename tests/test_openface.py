"""OpenFace nn4.small2 converter: random weights written as a Torch7 file and as a CSV folder,
converted by models/convert_openface.py, then run by onnxruntime and compared with a numpy
forward pass written here from `nn4.small2.def.lua` alone. The ONNX files and the numpy
result are left in FACEVERIFY_OPENFACE_DIR (default target/openface) for the Rust test that
runs them under tract.

run: .venv/bin/python -m unittest tests/test_openface.py
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
CONVERTER = ROOT / "models" / "convert_openface.py"
OUT = Path(os.environ.get("FACEVERIFY_OPENFACE_DIR", ROOT / "target" / "openface"))
PARAMETERS = 3_733_968
TOLERANCE = 1e-4


# ------------------------------------------------ nn4.small2.def.lua, as numpy modules

def windows(x, k, stride, pad, fill):
    """x: C×H×W → C×Ho×Wo×k×k views of the padded input."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    return view[:, ::stride, ::stride]


class Module:
    torch_class = ""
    params = ()

    def fields(self, writer):
        return {}


class Conv(Module):
    torch_class = "nn.SpatialConvolutionMM"

    def __init__(self, cin, cout, k, stride=1, pad=0, rng=None):
        self.cin, self.cout, self.k, self.stride, self.pad = cin, cout, k, stride, pad
        self.weight = rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        self.bias = rng.normal(0, 0.1, cout).astype(np.float32)
        self.params = (self.weight, self.bias)

    def forward(self, x):
        w = windows(x, self.k, self.stride, self.pad, 0.0)
        out = np.tensordot(w, self.weight.astype(np.float64), axes=([0, 3, 4], [1, 2, 3]))   # H×W×O
        return out.transpose(2, 0, 1) + self.bias[:, None, None]

    def fields(self, writer):
        # SpatialConvolutionMM keeps its weight as out × (in·kh·kw).
        return {"weight": self.weight.reshape(self.cout, -1), "bias": self.bias, "nInputPlane": self.cin,
                "nOutputPlane": self.cout, "kW": self.k, "kH": self.k, "dW": self.stride, "dH": self.stride,
                "padW": self.pad, "padH": self.pad}


class BatchNorm(Module):
    torch_class = "nn.SpatialBatchNormalization"
    legacy = False   # write running_std (Torch before 2016) instead of running_var

    def __init__(self, c, rng):
        self.weight = rng.uniform(0.5, 1.5, c).astype(np.float32)
        self.bias = rng.normal(0, 0.1, c).astype(np.float32)
        self.mean = rng.normal(0, 0.2, c).astype(np.float32)
        self.var = rng.uniform(0.5, 2.0, c).astype(np.float32)
        self.eps = 1e-5
        self.params = (self.weight, self.bias)

    def forward(self, x):
        scale = self.weight / np.sqrt(self.var.astype(np.float64) + self.eps)
        return (x - self.mean[:, None, None]) * scale[:, None, None] + self.bias[:, None, None]

    def fields(self, writer):
        stats = ({"running_std": (1.0 / np.sqrt(self.var.astype(np.float64) + self.eps)).astype(np.float32)}
                 if BatchNorm.legacy else {"running_var": self.var})
        return {"weight": self.weight, "bias": self.bias, "running_mean": self.mean, "eps": self.eps,
                "momentum": 0.1, "affine": True, **stats}


class ReLU(Module):
    torch_class = "nn.ReLU"

    def forward(self, x):
        return np.maximum(x, 0)


class MaxPool(Module):
    torch_class = "nn.SpatialMaxPooling"

    def __init__(self, k, stride, pad):
        self.k, self.stride, self.pad = k, stride, pad

    def forward(self, x):
        return windows(x, self.k, self.stride, self.pad, -np.inf).max(axis=(3, 4))

    def fields(self, writer):
        return {"kW": self.k, "kH": self.k, "dW": self.stride, "dH": self.stride, "padW": self.pad, "padH": self.pad}


class AvgPool(Module):
    torch_class = "nn.SpatialAveragePooling"

    def __init__(self, k, stride=1):
        self.k, self.stride = k, stride

    def forward(self, x):
        return windows(x, self.k, self.stride, 0, 0.0).mean(axis=(3, 4))

    def fields(self, writer):
        return {"kW": self.k, "kH": self.k, "dW": self.stride, "dH": self.stride}


class CrossMapLRN(Module):
    torch_class = "nn.SpatialCrossMapLRN"

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        half = (self.size - 1) // 2
        squares = np.pad(x * x, ((half, self.size - 1 - half), (0, 0), (0, 0)))
        total = sum(squares[i:i + x.shape[0]] for i in range(self.size))
        return x * (self.k + self.alpha / self.size * total) ** -self.beta

    def fields(self, writer):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}


class Sequential(Module):
    torch_class = "nn.Sequential"

    def __init__(self, *modules):
        self.modules = list(modules)

    def forward(self, x):
        for m in self.modules:
            x = m.forward(x)
        return x

    def fields(self, writer):
        # Lua tables come out of `pairs` in no particular order: write them backwards.
        return {"modules": dict(reversed([(float(i + 1), m) for i, m in enumerate(self.modules)]))}


class LPPool(Sequential):
    """nn.SpatialLPPooling(n, 2, 3, 3, 1, 1): Square → AveragePool → MulConstant(9) → Sqrt."""
    torch_class = "nn.SpatialLPPooling"

    def __init__(self):
        super().__init__(AvgPool(3))

    def forward(self, x):
        return np.sqrt(self.modules[0].forward(x * x) * 9)


class DepthConcat(Sequential):
    torch_class = "nn.DepthConcat"

    def forward(self, x):
        outs = [m.forward(x) for m in self.modules]
        size = max(o.shape[1] for o in outs)
        placed = []
        for o in outs:
            before = (size - o.shape[1]) // 2
            after = size - o.shape[1] - before
            placed.append(np.pad(o, ((0, 0), (before, after), (before, after))))
        return np.concatenate(placed, axis=0)


class Inception(Module):
    """dpnn's nn.Inception with batchNorm = true and padding = true."""
    torch_class = "nn.Inception"

    def __init__(self, rng, input_size, kernel_size, kernel_stride, output_size, reduce_size, pool):
        branches = []
        for i, (k, stride, out) in enumerate(zip(kernel_size, kernel_stride, output_size)):
            branches.append(Sequential(Conv(input_size, reduce_size[i], 1, rng=rng), BatchNorm(reduce_size[i], rng), ReLU(),
                                       Conv(reduce_size[i], out, k, stride, k // 2, rng=rng), BatchNorm(out, rng), ReLU()))
        pool_branch = [pool]
        reduce_pool = reduce_size[len(kernel_size)] if len(reduce_size) > len(kernel_size) else None
        if reduce_pool:
            pool_branch += [Conv(input_size, reduce_pool, 1, rng=rng), BatchNorm(reduce_pool, rng), ReLU()]
        branches.append(Sequential(*pool_branch))
        one_by_one = reduce_size[len(kernel_size) + 1] if len(reduce_size) > len(kernel_size) + 1 else None
        if one_by_one:
            branches.append(Sequential(Conv(input_size, one_by_one, 1, rng=rng), BatchNorm(one_by_one, rng), ReLU()))
        self.module = Sequential(DepthConcat(*branches))

    def forward(self, x):
        return self.module.forward(x)

    def fields(self, writer):
        # A dpnn Decorator: the same Sequential as `module` and as `modules[1]`.
        return {"module": self.module, "modules": {1.0: self.module}}


class View(Module):
    torch_class = "nn.View"

    def forward(self, x):
        return x.reshape(-1)


class Linear(Module):
    torch_class = "nn.Linear"

    def __init__(self, cin, cout, rng):
        self.weight = rng.normal(0, np.sqrt(1.0 / cin), (cout, cin)).astype(np.float32)
        self.bias = rng.normal(0, 0.1, cout).astype(np.float32)
        self.params = (self.weight, self.bias)

    def forward(self, x):
        return self.weight.astype(np.float64) @ x + self.bias

    def fields(self, writer):
        return {"weight": self.weight, "bias": self.bias}


class Normalize(Module):
    torch_class = "nn.Normalize"

    def forward(self, x):
        return x / np.sqrt(np.sum(x * x))

    def fields(self, writer):
        return {"p": 2.0, "eps": 1e-10}


def nn4_small2(rng):
    """OpenFace's models/openface/nn4.small2.def.lua, module for module."""
    return Sequential(
        Conv(3, 64, 7, 2, 3, rng=rng), BatchNorm(64, rng), ReLU(),
        MaxPool(3, 2, 1), CrossMapLRN(5, 0.0001, 0.75),
        Conv(64, 64, 1, rng=rng), BatchNorm(64, rng), ReLU(),
        Conv(64, 192, 3, 1, 1, rng=rng), BatchNorm(192, rng), ReLU(),
        CrossMapLRN(5, 0.0001, 0.75), MaxPool(3, 2, 1),
        Inception(rng, 192, (3, 5), (1, 1), (128, 32), (96, 16, 32, 64), MaxPool(3, 1, 1)),
        Inception(rng, 256, (3, 5), (1, 1), (128, 64), (96, 32, 64, 64), LPPool()),
        Inception(rng, 320, (3, 5), (2, 2), (256, 64), (128, 32), MaxPool(3, 2, 1)),
        Inception(rng, 640, (3, 5), (1, 1), (192, 64), (96, 32, 128, 256), LPPool()),
        Inception(rng, 640, (3, 5), (2, 2), (256, 128), (160, 64), MaxPool(3, 2, 1)),
        Inception(rng, 1024, (3,), (1,), (384,), (96, 96, 256), LPPool()),
        Inception(rng, 736, (3,), (1,), (384,), (96, 96, 256), MaxPool(3, 1, 1)),
        AvgPool(3), View(), Linear(736, 128, rng), Normalize())


def modules_in_order(module):
    yield module
    children = module.module.modules if isinstance(module, Inception) else getattr(module, "modules", [])
    for child in children:
        yield from modules_in_order(child)


# ------------------------------------------------ writers: Torch7 binary and CSV folders

class T7Writer:
    def __init__(self):
        self.out, self.refs = bytearray(), {}

    def int(self, v):
        self.out += struct.pack("<i", v)

    def long(self, v):
        self.out += struct.pack("<q", v)

    def raw_string(self, s):
        self.int(len(s))
        self.out += s.encode()

    def ref(self, obj):
        """Write the reference id; True when the object was already written."""
        seen = id(obj) in self.refs
        if not seen:
            self.refs[id(obj)] = (len(self.refs) + 1, obj)   # keep obj alive: ids stay unique
        self.int(self.refs[id(obj)][0])
        return seen

    def object(self, v):
        if v is None:
            self.int(0)
        elif isinstance(v, bool):
            self.int(5)
            self.int(int(v))
        elif isinstance(v, (int, float)):
            self.int(1)
            self.out += struct.pack("<d", float(v))
        elif isinstance(v, str):
            self.int(2)
            self.raw_string(v)
        elif isinstance(v, dict):
            self.int(3)
            if not self.ref(v):
                self.int(len(v))
                for key, value in v.items():
                    self.object(key)
                    self.object(value)
        elif isinstance(v, np.ndarray):
            self.tensor(v)
        elif isinstance(v, Module):
            self.int(4)
            if not self.ref(v):
                self.raw_string("V 1")
                self.raw_string(v.torch_class)
                self.object({"train": False, **v.fields(self)})
        else:
            raise TypeError(type(v))

    def tensor(self, array):
        array = np.ascontiguousarray(array, np.float32)
        self.int(4)
        if self.ref(array):
            return
        self.raw_string("V 1")
        self.raw_string("torch.FloatTensor")
        self.int(array.ndim)
        for s in array.shape:
            self.long(s)
        for s in array.strides:
            self.long(s // 4)
        self.long(1)
        self.int(4)
        self.ref(array.data)   # the storage: a distinct object
        self.raw_string("V 1")
        self.raw_string("torch.FloatStorage")
        self.long(array.size)
        self.out += array.tobytes()


def write_csv(net, folder: Path):
    """One file per tensor, named as convert_openface.py documents (Keras-OpenFace's names)."""
    names = ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3"]
    for block, m in zip(("3a", "3b", "3c", "4a", "4e", "5a", "5b"), [m for m in net.modules if isinstance(m, Inception)]):
        branches = m.module.modules[0].modules
        n_kernels = len([b for b in branches if isinstance(b.modules[0], Conv) and len(b.modules) == 6])
        for k in (3, 5)[:n_kernels]:
            names += [f"inception_{block}_{k}x{k}_{part}" for part in ("conv1", "bn1", "conv2", "bn2")]
        if len(branches[n_kernels].modules) > 1:
            names += [f"inception_{block}_pool_conv", f"inception_{block}_pool_bn"]
        if len(branches) > n_kernels + 1:
            names += [f"inception_{block}_1x1_conv", f"inception_{block}_1x1_bn"]
    layers = [m for m in modules_in_order(net) if isinstance(m, (Conv, BatchNorm))]
    assert len(names) == len(layers), (len(names), len(layers))
    folder.mkdir(parents=True, exist_ok=True)
    save = lambda stem, a: np.savetxt(folder / f"{stem}.csv", a.reshape(1, -1), delimiter=",", fmt="%.9g")
    for name, layer in zip(names, layers):
        if isinstance(layer, Conv):
            save(f"{name}_w", layer.weight)
            save(f"{name}_b", layer.bias)
        else:
            for suffix, a in (("w", layer.weight), ("b", layer.bias), ("m", layer.mean), ("v", layer.var)):
                save(f"{name}_{suffix}", a)
    dense = next(m for m in modules_in_order(net) if isinstance(m, Linear))
    save("dense_w", dense.weight)
    save("dense_b", dense.bias)


def convert(*args):
    return subprocess.run([sys.executable, str(CONVERTER), *map(str, args)], capture_output=True, text=True)


class OpenFaceConverterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(2015)
        cls.net = nn4_small2(rng)
        cls.input = rng.uniform(0, 1, (3, 96, 96)).astype(np.float32)
        cls.expected = cls.net.forward(cls.input.astype(np.float64))
        OUT.mkdir(parents=True, exist_ok=True)
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls.tmp.name)
        writer = T7Writer()
        writer.object(cls.net)
        cls.t7 = tmp / "nn4.small2.random.t7"
        cls.t7.write_bytes(bytes(writer.out))
        write_csv(cls.net, tmp / "csv")
        cls.csv = tmp / "csv"
        cls.runs = {"t7": convert("--t7", cls.t7, OUT / "nn4.small2-t7.onnx"),
                    "csv": convert("--csv", cls.csv, OUT / "nn4.small2-csv.onnx")}
        (OUT / "input.f32").write_bytes(cls.input.astype("<f4").tobytes())
        (OUT / "expected.f32").write_bytes(cls.expected.astype("<f4").tobytes())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_parameter_count_is_nn4_small2s(self):
        counted = sum(p.size for m in modules_in_order(self.net) for p in m.params)
        self.assertEqual(counted, PARAMETERS)
        for source, run in self.runs.items():
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn(f"{PARAMETERS} parameters", run.stdout, source)

    def test_onnxruntime_matches_numpy(self):
        for source in self.runs:
            session = ort.InferenceSession(str(OUT / f"nn4.small2-{source}.onnx"))
            got = session.run(["embedding"], {"input": self.input[None]})[0][0]
            (OUT / f"onnxruntime-{source}.f32").write_bytes(got.astype("<f4").tobytes())
            diff = float(np.abs(got - self.expected).max())
            print(f"\n{source}: onnxruntime vs numpy max |diff| {diff:.2e}, ‖embedding‖ {np.linalg.norm(got):.6f}")
            self.assertEqual(got.shape, (128,))
            self.assertLessEqual(diff, TOLERANCE)
            self.assertAlmostEqual(float(np.linalg.norm(got)), 1.0, places=5)

    def test_legacy_running_std_batch_norm(self):
        BatchNorm.legacy = True
        try:
            writer = T7Writer()
            writer.object(self.net)
        finally:
            BatchNorm.legacy = False
        path = Path(self.tmp.name) / "legacy.t7"
        path.write_bytes(bytes(writer.out))
        run = convert("--t7", path, Path(self.tmp.name) / "legacy.onnx")
        self.assertEqual(run.returncode, 0, run.stderr)
        got = ort.InferenceSession(str(Path(self.tmp.name) / "legacy.onnx")).run(None, {"input": self.input[None]})[0][0]
        self.assertLessEqual(float(np.abs(got - self.expected).max()), TOLERANCE)

    def test_broken_inputs_are_clear_errors(self):
        tmp = Path(self.tmp.name)
        truncated = tmp / "truncated.t7"
        truncated.write_bytes(self.t7.read_bytes()[:100_000])
        run = convert("--t7", truncated, tmp / "x.onnx")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("truncated", run.stderr)
        other = tmp / "other.t7"
        writer = T7Writer()
        writer.object(Sequential(Conv(3, 8, 3, rng=np.random.default_rng(0)), Linear(8, 2, np.random.default_rng(0))))
        other.write_bytes(bytes(writer.out))
        run = convert("--t7", other, tmp / "x.onnx")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("nn4.small2 has", run.stderr)
        missing = tmp / "missing-csv"
        missing.mkdir()
        run = convert("--csv", missing, tmp / "x.onnx")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("conv1_w.csv is missing", run.stderr)


if __name__ == "__main__":
    unittest.main()

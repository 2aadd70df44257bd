"""A small helper over onnx.helper that names nodes and initialisers uniquely."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
# onnxruntime-web 1.30 reads IR ≤ 13; onnx 1.23 writes 14 by default. 8 is opset 13's era.
IR_VERSION = 8


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list, hint: str = None, **attrs) -> str:
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def rename(self, tensor: str, name: str) -> str:
        """Expose `tensor` under a stable graph-output name."""
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=name))
        return name

    def dequantized(self, values: np.ndarray, scale: np.ndarray, offset: np.ndarray, hint: str) -> str:
        """float(values) * scale + offset, computed in the graph from the stored integers.
        Runtimes fold it into a constant at load: the file carries 1 byte per weight."""
        x = self.op("Cast", [self.const(values, hint + "_q")], hint + "_f", to=TensorProto.FLOAT)
        x = self.op("Mul", [x, self.const(scale.astype(np.float32), hint + "_scale")])
        return self.op("Add", [x, self.const(offset.astype(np.float32), hint + "_offset")], hint + "_w")

    def weight(self, values: np.ndarray, hint: str) -> str:
        """A float weight tensor: float16 arrays stay float16 in the file (half the bytes) and
        are cast up in the graph, which runtimes fold into a constant at load."""
        if values.dtype == np.float16:
            return self.op("Cast", [self.const(values, hint + "_f16")], hint + "_w", to=TensorProto.FLOAT)
        return self.const(values.astype(np.float32), hint + "_w")

    def conv(self, x: str, weight, bias: np.ndarray, hint: str, **attrs) -> str:
        """ONNX Conv with OIHW weights: an array (see `weight`), or a tensor name (dequantized)."""
        w = weight if isinstance(weight, str) else self.weight(weight, hint)
        b = self.const(bias.astype(np.float32), hint + "_b")
        return self.op("Conv", [x, w, b], hint, **attrs)

    def model(self, inputs: dict, outputs: list, doc: str) -> onnx.ModelProto:
        """`inputs`: {name: shape}; `outputs`: names, shapes inferred. All float32."""
        graph = helper.make_graph(
            self.nodes, "faceverify",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="faceverify-models", doc_string=doc)
        model.ir_version = IR_VERSION
        inferred = onnx.shape_inference.infer_shapes(model)
        known = {v.name: v for v in inferred.graph.value_info}
        model.graph.output.extend(known[name] for name in outputs)
        onnx.checker.check_model(model, full_check=True)
        return model

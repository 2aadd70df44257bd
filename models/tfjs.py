"""A reader of TF.js graph models (human-models).

Graph models (human-models) keep their weights in TF.js's one layout: tensors
are read from the .bin shards in manifest order with no alignment padding, and quantised tensors
dequantise as `q * scale + min` (uint8/uint16) or are stored as IEEE half floats (float16).
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_STORED = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16,
           "float16": np.float16, "bool": np.bool_}


@dataclass
class Quantized:
    """A tensor kept as stored, `values * scale + min`: lets a converter ship the uint8 bytes
    (a quarter of float32) and dequantise inside the graph."""
    values: np.ndarray
    scale: np.float32
    min: np.float32

    def dequantize(self) -> np.ndarray:
        return self.values.astype(np.float32) * self.scale + self.min


def read_weights(manifest: list, directory: Path, keep_quantized: bool = False) -> dict:
    """Return {name: ndarray} for every tensor in a TF.js weights manifest; with
    `keep_quantized`, uint8/uint16 tensors come as `Quantized` and float16 ones as float16
    arrays instead, so that a converter can ship the stored bytes."""
    weights = {}
    for group in manifest:
        blob = b"".join((directory / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            stored = _STORED[quant["dtype"] if quant else spec["dtype"]]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            size = count * np.dtype(stored).itemsize
            raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            offset += size
            if quant and quant["dtype"] in ("uint8", "uint16"):
                stored_tensor = Quantized(raw.reshape(spec["shape"]), np.float32(quant["scale"]), np.float32(quant["min"]))
                weights[spec["name"]] = stored_tensor if keep_quantized else stored_tensor.dequantize()
                continue
            elif quant:
                values = raw.copy() if keep_quantized and quant["dtype"] == "float16" else raw.astype(np.float32)
            else:
                values = raw.astype(_STORED[spec["dtype"]])
            weights[spec["name"]] = values.reshape(spec["shape"])
        if offset != len(blob):
            raise ValueError(f"{group['paths']}: manifest covers {offset} of {len(blob)} bytes")
    return weights


def read_graph_model(path: Path, keep_quantized: bool = False):
    """human-models style `model.json`: returns (graph nodes, {name: ndarray})."""
    model = json.loads(path.read_text())
    return model["modelTopology"]["node"], read_weights(model["weightsManifest"], path.parent, keep_quantized)

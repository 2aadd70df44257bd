"""A reader for Torch7's binary serialisation (`torch.save` files, `.t7`), the format
OpenFace's models ship in and that PyTorch no longer reads.

A file is one object; every object starts with an int32 type tag. Tables and Torch objects
carry an int32 reference id, so that an object seen twice is stored once (the second time only
the id). Numbers are float64, strings are an int32 length and bytes, "long" values (tensor
sizes, strides, offsets, storage lengths) are int64 as written by 64-bit Torch. Tensors are
(dims, sizes, strides, 1-based offset, storage); storages are a length and raw elements.
Any other Torch class (an `nn` module) is its field table.
"""
import struct
from dataclasses import dataclass, field

import numpy as np

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN, FUNCTION, LEGACY_RECUR_FUNCTION, RECUR_FUNCTION = range(9)

STORAGE_TYPES = {
    "torch.FloatStorage": np.float32, "torch.DoubleStorage": np.float64,
    "torch.LongStorage": np.int64, "torch.IntStorage": np.int32, "torch.ShortStorage": np.int16,
    "torch.ByteStorage": np.uint8, "torch.CharStorage": np.int8,
}
TENSOR_TYPES = {name.replace("Storage", "Tensor") for name in STORAGE_TYPES}


class T7Error(ValueError):
    """The bytes are not a Torch7 file this reader understands."""


@dataclass
class TorchObject:
    """An instance of a Torch class other than a tensor or storage, e.g. an `nn` module."""
    class_name: str
    fields: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos, self.memo = data, 0, {}

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise T7Error(f"truncated: needs {n} bytes at offset {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def long(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def string(self) -> str:
        length = self.int()
        if length < 0:
            raise T7Error(f"negative string length at offset {self.pos}")
        return self.take(length).decode("latin-1")

    def object(self):
        tag = self.int()
        if tag == NIL:
            return None
        if tag == NUMBER:
            return struct.unpack("<d", self.take(8))[0]
        if tag == STRING:
            return self.string()
        if tag == BOOLEAN:
            return self.int() != 0
        if tag == TABLE:
            ref = self.int()
            if ref in self.memo:
                return self.memo[ref]
            table = self.memo[ref] = {}
            for _ in range(self.int()):
                key = self.object()
                table[key] = self.object()
            return table
        if tag == TORCH:
            ref = self.int()
            if ref in self.memo:
                return self.memo[ref]
            version = self.string()
            class_name = self.string() if version.startswith("V ") else version
            return self.torch(ref, class_name)
        raise T7Error(f"unsupported type tag {tag} at offset {self.pos - 4} (functions are not read)")

    def torch(self, ref: int, class_name: str):
        if class_name in STORAGE_TYPES:
            dtype = np.dtype(STORAGE_TYPES[class_name]).newbyteorder("<")
            size = self.long()
            array = np.frombuffer(self.take(size * dtype.itemsize), dtype=dtype)
            self.memo[ref] = array
            return array
        if class_name in TENSOR_TYPES:
            dims = self.int()
            sizes = [self.long() for _ in range(dims)]
            strides = [self.long() for _ in range(dims)]
            offset = self.long() - 1
            storage = self.object()
            if dims == 0 or storage is None:
                tensor = np.zeros([0], np.float32)
            else:
                itemsize = storage.dtype.itemsize
                extent = offset + 1 + sum((s - 1) * st for s, st in zip(sizes, strides))
                if offset < 0 or extent > storage.size:
                    raise T7Error(f"{class_name} of size {sizes} overruns its storage of {storage.size}")
                tensor = np.lib.stride_tricks.as_strided(
                    storage[offset:], shape=sizes, strides=[st * itemsize for st in strides]).copy()
            self.memo[ref] = tensor
            return tensor
        obj = self.memo[ref] = TorchObject(class_name)
        fields = self.object()
        if not isinstance(fields, dict):
            raise T7Error(f"{class_name} has no field table")
        obj.fields = fields
        return obj


def load(data: bytes):
    """The object a Torch7 binary file holds."""
    return Reader(data).object()

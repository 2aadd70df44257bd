"""Convert dlib's CNN face detector (`mmod_human_face_detector.dat`) to ONNX.

The network is dlib's MMOD face detector (dnn_mmod_face_detection_ex.cpp): three 5×5
stride-2 convolutions (16, 32, 32 filters) and three 5×5 ones (45 filters), each followed by
batch norm (folded into the conv here) and ReLU, then a 9×9 convolution to one score map. A
score above 0 at output cell (x, y) means dlib's 80×80 detection window centred on input pixel
(8x + 14, 8y + 14) holds a face. dlib slides it over an image pyramid; faceverify runs it at one
scale, on a face a detector already found scaled to the window, to confirm that it is a face.

Input is NCHW float RGB normalised by the caller as dlib's input layer does, (x − mean) / 256
(the manifest's mean and std); output `scores` [1, 1, h, w]. Weights stay float32 (0.73 MB).

usage: convert_dlib_mmod.py mmod_human_face_detector.dat OUT.onnx SIZE
"""
import sys
from pathlib import Path

import numpy as np
import onnx

from dlib_dat import read_dnn_layers
from onnx_builder import GraphBuilder

MEAN = [122.782, 117.001, 104.298]


def main() -> None:
    dat, out, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    layers = read_dnn_layers(dat.read_bytes())
    kinds = [kind for kind, _ in layers]
    if kinds != ["input"] + ["con", "affine"] * 6 + ["con"] or not np.allclose(layers[0][1], MEAN, atol=1e-3):
        raise ValueError(f"{dat}: not dlib's MMOD face detector")
    g = GraphBuilder()
    x = "input"
    for i in range(6):
        (_, (filters, bias, stride, padding)), (_, (gamma, beta)) = layers[1 + 2 * i], layers[2 + 2 * i]
        k = filters.shape[2]
        weight = (filters * gamma[:, None, None, None]).astype(np.float32)
        x = g.conv(x, weight, bias * gamma + beta, f"conv{i}", kernel_shape=[k, k], strides=list(stride),
                   pads=[padding[0], padding[1], padding[0], padding[1]])
        x = g.op("Relu", [x])
    filters, bias, stride, padding = layers[-1][1]
    x = g.conv(x, filters.astype(np.float32), bias, "scores_conv", kernel_shape=[9, 9], strides=list(stride),
               pads=[padding[0], padding[1], padding[0], padding[1]])
    g.rename(x, "scores")
    onnx.save(g.model({"input": [1, 3, size, size]}, ["scores"], "dlib MMOD CNN face detector (mmod_human_face_detector)"), out)


if __name__ == "__main__":
    main()

"""Convert face-api's 68-point landmark nets (`face_landmark_68_model`, `face_landmark_68_tiny_model`
of npm @vladmandic/face-api 1.7.15) to ONNX, reusing models/convert_faceapi.py's Converter.

Architectures (package src/faceLandmarkNet/, src/faceFeatureExtractor/):
- landmark68 (FaceLandmark68Net): FaceFeatureExtractor = four denseBlock4 (the expression net's
  trunk), 7×7 average pool → 256, fc 256→136.
- landmark68_tiny (FaceLandmark68TinyNet): TinyFaceFeatureExtractor = three denseBlock3 (first
  conv plain, the rest separable; each block downsamples by 2: 112→56→28→14), avgPool 14×14
  stride 2 'valid' → 128, fc 128→136.
Output `landmarks` [1, 136] = x0, y0, x1, y1, … in [0, 1] of the 112×112 input, which is the face
crop zero-padded to a square (centred) and resized (face-api's NetInput.toBatchTensor(112, true));
face-api's postProcess maps them back to the unpadded crop. No activation on the output.

Input `input` [1, 3, 112, 112] NCHW RGB, (x − [122.782, 117.001, 104.298]) / 255, as for the
expression net.

usage: convert_faceapi_landmarks.py {landmark68|landmark68_tiny} PACKAGE_DIR OUT.onnx
"""
import sys
from pathlib import Path

import onnx

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
sys.path.insert(0, str(MODELS_DIR))
from convert_faceapi import SIZE, Converter, main as convert  # noqa: E402

MODELS = {"landmark68": "face_landmark_68_model", "landmark68_tiny": "face_landmark_68_tiny_model"}


class LandmarkConverter(Converter):
    def landmark68(self) -> onnx.ModelProto:
        self.g.rename(self.fc(self.features(), "fc"), "landmarks")
        return self.finish(["landmarks"], "face-api FaceLandmark68Net: 68 (x, y) pairs in [0, 1] of the "
                           "square-padded 112x112 input")

    def landmark68_tiny(self) -> onnx.ModelProto:
        x, size = "input", SIZE
        for i in range(3):
            x, size = self.dense_block(x, size, f"dense{i}", first=i == 0, convs=3)
        if size != 14:
            raise ValueError(f"unexpected feature map size {size}")
        x = self.g.op("AveragePool", [x], kernel_shape=[14, 14], strides=[2, 2])
        x = self.g.op("Flatten", [x], axis=1)
        self.g.rename(self.fc(x, "fc"), "landmarks")
        return self.finish(["landmarks"], "face-api FaceLandmark68TinyNet: 68 (x, y) pairs in [0, 1] of "
                           "the square-padded 112x112 input")


if __name__ == "__main__":
    convert(MODELS, LandmarkConverter, __doc__)

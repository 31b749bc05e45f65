"""Writes docs/models.md: every registered model's size beside the paper's figures.

Usage (from the repository root; builds every model once, about a minute):
    python benchmarks/model_table.py                 # prints the plain-text table
    python benchmarks/model_table.py --output docs/models.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUTPUT = flags.DEFINE_string("output", None, "Markdown file to write (default: print only).")

_INTRO = """# Model zoo

Every model takes float32 RGB pixels in [0, 255], shape [N, H, W, 3] at its input size
(H x W), normalises them inside the model (`PixelNormalization`: (x - 127.5) / 128 for
all but `dlib_resnet_v1`, which uses dlib's (x - channel mean) / 256), and returns
float32 [N, 128] unit vectors (`embedding_dim` changes D).

"params" counts all weights (batch-norm statistics included); "mult-adds" counts the
multiply-adds of convolutions and dense layers for one image
(`facenet_tf.models.flops.count_flops`), which is what the paper's "FLOPS" columns
count (NN1 conv1: 7*7*3*64*110*110 = 114M against its 115M). "ratio" = ours / paper;
"-" where the paper gives no figure. The paper's figures are from its Tables 1-2 and
Section 4; NN3 is NN2 at 160x160, for which it gives no separate figure. For
`mobilefacenet` the "paper" columns are the MobileFaceNet paper's (Chen et al. 2018).

"""

_NOTES = """

Where the paper leaves the design open (NN1's fully connected layers, NNS1, NNS2, which
5x5 branches NN4 drops) the choice is described in each builder's docstring
(`facenet_tf/models/nn1.py`, `facenet_tf/models/inception_nn.py`). All paper networks
add batch normalisation after every convolution, which the 2015 paper predates.

Regenerate with `python benchmarks/model_table.py --output docs/models.md`; the same
table is printed by `facenet-tf models`.
"""


def main(argv):
    del argv
    from facenet_tf.models.table import format_table, model_table

    rows = model_table()
    print(format_table(rows))
    if OUTPUT.value:
        path = Path(OUTPUT.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_INTRO + format_table(rows, markdown=True) + _NOTES, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)

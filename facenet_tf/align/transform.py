"""Similarity transforms and the image warps that cut aligned face crops.

Pixel coordinates put pixel centres on integers (x right, y down), as OpenCV's
``warpAffine``, the MTCNN landmarks and the templates in ``templates`` do.
"""

from __future__ import annotations

import cv2
import numpy as np

from facenet_tf.errors import InvalidInputError


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation).

    Minimises ``sum_i ||dst_i - (s R src_i + t)||^2`` over s > 0 and proper rotations R
    (Umeyama, PAMI 1991), so a mirrored point set is never matched by a reflection.

    Args:
        src: float [N, 2] points, N >= 2, not all equal.
        dst: float [N, 2] target points.

    Returns:
        float64 [2, 3] matrix ``[s R | t]`` mapping src to dst.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise InvalidInputError(
            f"umeyama needs two [N, 2] point sets with N >= 2, got {src.shape} and {dst.shape}"
        )
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs**2).sum() / len(src)
    if var_s <= 1e-12:
        raise InvalidInputError("umeyama: the source points all coincide")
    cov = xd.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    scale = (d * sign).sum() / var_s
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Maps float [N, 2] points through a [2, 3] affine matrix."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def margin_box_transform(
    box: np.ndarray | list[float], image_size: int, margin: float
) -> np.ndarray:
    """Scale-and-translation transform of the margin-crop protocol.

    The crop is the square centred on the box centre whose side is the box's longer side
    plus ``margin`` pixels (``margin / 2`` on each side), scaled to ``image_size``: no
    rotation and no change of aspect ratio, as in the FaceNet paper's "no alignment other
    than scale and translation".

    Args:
        box: (x1, y1, x2, y2) in image pixels.
        image_size: output side in pixels.
        margin: extra pixels (of the input image) added to the side, >= 0.

    Returns:
        float64 [2, 3] matrix mapping image pixels to crop pixels.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) + float(margin)
    if side <= 0:
        raise InvalidInputError(f"margin crop of an empty box {box}")
    s = image_size / side
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    # The square's corner (cx - side/2) lands on the crop's outer edge, -0.5.
    c = (image_size - 1) / 2.0
    return np.array([[s, 0.0, c - s * cx], [0.0, s, c - s * cy]])


def warp(image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Cuts the crop that ``matrix`` (image -> crop pixels) defines.

    Bilinear resampling; pixels outside the image are black. When the crop shrinks the
    face by more than 2x, the image is first reduced with area averaging so the crop does
    not alias.

    Args:
        image: uint8 [H, W, 3].
        matrix: float [2, 3] mapping image pixels to crop pixels.
        size: crop side, or (height, width).

    Returns:
        uint8 [height, width, 3].
    """
    h_out, w_out = (size, size) if isinstance(size, int) else size
    m = np.asarray(matrix, np.float64).copy()
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    h, w = image.shape[:2]
    if 0 < scale < 0.5:
        factor = 1.0 / (2.0 * scale)  # leave the warp a 2x reduction at most
        w_small, h_small = max(1, round(w / factor)), max(1, round(h / factor))
        image = cv2.resize(image, (w_small, h_small), interpolation=cv2.INTER_AREA)
        # INTER_AREA puts small pixel (u, v) over big pixel (sx u + (sx-1)/2, ...).
        sx, sy = w / w_small, h / h_small
        m[:, 2] = m[:, 2] + m[:, 0] * (sx - 1) / 2 + m[:, 1] * (sy - 1) / 2
        m[:, 0] *= sx
        m[:, 1] *= sy
    return cv2.warpAffine(
        image,
        m,
        (w_out, h_out),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )

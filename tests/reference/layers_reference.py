"""Brute-force numpy references for the reusable layers (loops, no vectorised tricks)."""

from __future__ import annotations

import math

import numpy as np


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (before, after) along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def l2_pool(
    x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int], padding: str, eps: float
) -> np.ndarray:
    """sqrt(max(sum of squares over each window, eps)) with zero padding; x: [N, H, W, C]."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        (top, bottom), (left, right) = same_padding(h, kh, sh), same_padding(w, kw, sw)
    else:
        top = bottom = left = right = 0
    xp = np.zeros((n, h + top + bottom, w + left + right, c), np.float64)
    xp[:, top : top + h, left : left + w] = x
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    out = np.zeros((n, oh, ow, c), np.float64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    total = 0.0
                    for di in range(kh):
                        for dj in range(kw):
                            total += xp[b, i * sh + di, j * sw + dj, ch] ** 2
                    out[b, i, j, ch] = math.sqrt(max(total, eps))
    return out


def local_response_norm(
    x: np.ndarray, depth_radius: int, bias: float, alpha: float, beta: float
) -> np.ndarray:
    """x_c / (bias + alpha * sum_{|c'-c| <= r} x_c'^2) ** beta over the last axis."""
    out = np.zeros(x.shape, np.float64)
    channels = x.shape[-1]
    for index in np.ndindex(*x.shape[:-1]):
        for ch in range(channels):
            lo, hi = max(0, ch - depth_radius), min(channels, ch + depth_radius + 1)
            total = sum(float(x[index + (k,)]) ** 2 for k in range(lo, hi))
            out[index + (ch,)] = x[index + (ch,)] / (bias + alpha * total) ** beta
    return out


def maxout(x: np.ndarray, num_pieces: int) -> np.ndarray:
    """Unit j = max of features j*p .. j*p+p-1 of the last axis."""
    units = x.shape[-1] // num_pieces
    out = np.zeros((*x.shape[:-1], units), x.dtype)
    for index in np.ndindex(*x.shape[:-1]):
        for j in range(units):
            out[index + (j,)] = max(x[index + (j * num_pieces + k,)] for k in range(num_pieces))
    return out

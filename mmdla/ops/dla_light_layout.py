"""The layout contract of the fused DLA-L step: what each row of its small
buffers holds, and the literal sizes its kernels share.

Every constant is a plain ``int`` defined here once. The Triton kernels wrap
them as ``tl.constexpr`` (``TAPS = tl.constexpr(layout.TAPS)``), the
PyTorch side reads the buffers through the NamedTuples below, whose fields
follow the same rows. Changing a buffer's layout is an edit of this file.

========================  =====================  ===========================
buffer                    shape                  rows
========================  =====================  ===========================
depthwise kernels         ``[N, TAPS, C]`` fp32  tap ``t = 3 (dh + 1) +
                                                 (dw + 1)``
spatial means ``pooled``  ``[N, MEANS, C]``      ``MEAN_X``, ``MEAN_R``
partial sums              ``[R, SUMS, C]``       ``SUM_FIRST``,
                                                 ``SUM_SECOND``
norm coefficients         ``[COEF_ROWS, C]``     ``COEF_*``
their gradients           ``[COEF_ROWS, C]``     ``GRAD_*``
tap sums                  ``[R, F * TAPS, C]``   ``TAPS * family + t``
========================  =====================  ===========================
"""
from typing import NamedTuple

import torch
from torch import Tensor

# The 3x3 depthwise kernels, tap-major.
TAPS = 9
TAP_ROWS = 16  # TAPS padded to a power of 2 (rows t >= TAPS are masked)
CENTER_TAP = 4  # (dh, dw) = (0, 0)

# The spatial means ``[N, MEANS, C]``: of the block output and its shortcut.
MEANS = 2
MEAN_X = 0
MEAN_R = 1

# The partial sums of the norm ``[R, SUMS, C]``, one row ``R`` per sample
# and split of the positions. Forward: sums of ``o`` and ``o ** 2``;
# backward: sums of ``g'`` and ``g' o``.
SUMS = 2
SUM_FIRST = 0
SUM_SECOND = 1

# The coefficients of the norm ``[COEF_ROWS, C]`` (forward) ...
COEF_ROWS = 4
COEF_MEAN = 0
COEF_INV_STD = 1
COEF_ALPHA = 2  # the norm applies alpha * o + shift
COEF_SHIFT = 3
# ... and of its gradients (backward)
GRAD_WEIGHT = 0
GRAD_BIAS = 1
GRAD_COEF_1 = 2  # do = alpha g' + coef_1 + coef_o o
GRAD_COEF_O = 3

# The families of tap sums of the backward reduction, ``[R, F * TAPS, C]``:
# family ``f`` holds rows ``TAPS * f + t``. ``x_t``, ``r_t``: the tensors
# shifted by tap ``t``; ``g' = scale[n] * grad``.
TAP_G_X = 0  # sum g' x_t
TAP_G_R = 1  # sum g' r_t
TAP_X = 2  # sum x_t       (batch statistics only)
TAP_R = 3  # sum r_t       (batch statistics only)
TAP_O_X = 4  # sum o x_t   (batch statistics only)
TAP_O_R = 5  # sum o r_t   (batch statistics only)
AFFINE_TAP_FAMILIES = 2
BATCH_TAP_FAMILIES = 6

# Channels per program of the per-channel and per-sample ``[N, C]`` kernels.
CHANNEL_BLOCK = 256


def tap_families(batch_stats: bool) -> int:
    """Families ``F`` of tap sums the backward reduction stores."""
    return BATCH_TAP_FAMILIES if batch_stats else AFFINE_TAP_FAMILIES


class NormCoefficients(NamedTuple):
    """The ``COEF_*`` rows, each ``[C]`` fp32: the norm maps ``o`` to
    ``alpha * o + shift``."""
    mean: Tensor
    inv_std: Tensor
    alpha: Tensor
    shift: Tensor


class NormGradCoefficients(NamedTuple):
    """The ``GRAD_*`` rows, each ``[C]`` fp32: the gradients of the norm's
    weight and bias, and (under batch statistics) ``coef_1``, ``coef_o`` of
    ``do = alpha * g' + coef_1 + coef_o * o``."""
    weight: Tensor
    bias: Tensor
    coef_1: Tensor
    coef_o: Tensor


_COEF_ROW_OF = NormCoefficients(COEF_MEAN, COEF_INV_STD, COEF_ALPHA,
                                COEF_SHIFT)
_GRAD_ROW_OF = NormGradCoefficients(GRAD_WEIGHT, GRAD_BIAS, GRAD_COEF_1,
                                    GRAD_COEF_O)


def norm_coefficient_rows(coefs: Tensor) -> NormCoefficients:
    """``[COEF_ROWS, C]`` -> :class:`NormCoefficients`."""
    rows = coefs.unbind(0)
    return NormCoefficients(*(rows[i] for i in _COEF_ROW_OF))


def norm_grad_coefficient_rows(grad_coefs: Tensor) -> NormGradCoefficients:
    """``[COEF_ROWS, C]`` -> :class:`NormGradCoefficients`."""
    rows = grad_coefs.unbind(0)
    return NormGradCoefficients(*(rows[i] for i in _GRAD_ROW_OF))


def stacked_norm_coefficients(coefs: NormCoefficients) -> Tensor:
    """:class:`NormCoefficients` -> ``[COEF_ROWS, C]``."""
    rows = [None] * COEF_ROWS
    for i, row in zip(_COEF_ROW_OF, coefs):
        rows[i] = row
    return torch.stack(rows)

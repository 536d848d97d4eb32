"""Cross-modal attention (paper Eqs. 2-3) and sub-bin peak refinement, as pure tensor functions.

Coordinates: a feature map has ``h x w`` bins; bin (i, j) is at integer feature coordinates.
``feature_to_heatmap`` maps fractional feature coordinates to fractional heatmap (row, col)
coordinates of the ``R x A`` radar heatmap (row 0 = nearest range, col 0 = leftmost azimuth).
"""

from __future__ import annotations

from typing import Any

REFINE_METHODS = ("parabolic", "softargmax", "none")


def mask_to_feature_grid(mask: Any, hw: tuple[int, int], stride: tuple[int, int] | None = None) -> Any:
    """[B,1,H,W] mask in [0,1] -> [B,1,h,w] fraction of each feature bin's window covered by the mask.

    With ``stride`` (sy, sx) this is pretraining's ``losses.mask_to_grid`` itself (windows centred on input
    pixel (sy*i, sx*j), the geometry of the backbones): self-labels must see the mask exactly as training
    did. Without it, adaptive average pooling (windows [i*H/h, (i+1)*H/h)).
    """
    import torch.nn.functional as F

    from ..pretrain.losses import mask_to_grid

    if stride is None:
        return F.adaptive_avg_pool2d(mask.float(), hw)
    return mask_to_grid(mask.float(), hw, (int(stride[0]), int(stride[1])))


def cross_modal_attention(f_r: Any, f_v: Any, mask_w: Any, normalize: bool = False,
                          min_cover: float = 0.0) -> Any:
    """Eq. 2: correlate the masked visual features over the mask's bins with the whole radio map.

    f_r [B,C,h,w] radio features; f_v [B,C,h',w'] features of the masked image (gamma * v);
    mask_w [B,1,h',w'] mask coverage per visual bin. Per sample the kernel is the visual feature
    crop over the bounding box of bins with coverage > ``min_cover`` (weighted by coverage, so
    bins outside the mask inside the crop contribute nothing). ``conv2d`` with zero padding
    (kh//2, kw//2) keeps the output h x w; output bin n is the match score of the kernel centred
    at n (for even kernel sizes the centre is the lower-middle bin, see ``kernel_centre``),
    divided by the kernel's mask weight that overlaps the map (so positions near the border are
    neither favoured nor penalised by the zero padding). The paper's Eq. 2 is a raw conv2d (default);
    with ``normalize`` the per-bin features are L2-normalised first (weighted mean cosine), so
    the argmax is not driven by feature magnitude.
    Returns [B,h,w] attention maps; samples with an empty mask get an all-zero map.
    """
    import torch
    import torch.nn.functional as F

    if f_r.shape[0] != f_v.shape[0] or f_r.shape[1] != f_v.shape[1]:
        raise ValueError(f"radio {tuple(f_r.shape)} and vision {tuple(f_v.shape)} features disagree on B or C")
    if normalize:
        f_r = F.normalize(f_r, dim=1)
        f_v = F.normalize(f_v, dim=1)
    B, C, h, w = f_r.shape
    out = f_r.new_zeros((B, h, w))
    for b in range(B):
        wgt = mask_w[b, 0]
        on = torch.nonzero(wgt > min_cover)
        if on.numel() == 0:
            continue
        (i0, j0), (i1, j1) = on.min(0).values.tolist(), on.max(0).values.tolist()
        # A kernel larger than the radio map cannot be centred; crop it to at most h x w.
        i1, j1 = min(i1, i0 + h - 1), min(j1, j0 + w - 1)
        k = (f_v[b, :, i0:i1 + 1, j0:j1 + 1] * wgt[i0:i1 + 1, j0:j1 + 1]).unsqueeze(0)  # [1,C,kh,kw]
        kh, kw = k.shape[-2:]
        # 'same' output: pad kh//2 before, (kh-1)//2 after so out[n] centres the kernel at n.
        pad = (kw // 2, (kw - 1) // 2, kh // 2, (kh - 1) // 2)
        corr = F.conv2d(F.pad(f_r[b:b + 1], pad), k)[0, 0]
        # Divide by the mask weight that overlaps the map: with plain zero padding a kernel that
        # hangs off the border scores closer to 0, which beats every interior position whenever
        # the correlations are negative (corners win). This is the mean match over the overlap.
        ones = F.pad(f_r.new_ones((1, 1, h, w)), pad)
        overlap = F.conv2d(ones, wgt[i0:i1 + 1, j0:j1 + 1][None, None])[0, 0]
        out[b] = corr / overlap.clamp_min(1e-6)
    return out


def kernel_centre(kh: int, kw: int) -> tuple[int, int]:
    """Index of the kernel bin aligned with the output bin in ``cross_modal_attention``."""
    return kh // 2, kw // 2


def argmax_2d(att: Any) -> tuple[Any, Any, Any]:
    """Eq. 3: [B,h,w] -> (row [B] long, col [B] long, max score [B])."""
    B, h, w = att.shape
    score, flat = att.reshape(B, -1).max(dim=1)
    return flat // w, flat % w, score


def _parabolic_offset(ym: Any, y0: Any, yp: Any) -> Any:
    """Vertex of the parabola through (-1, ym), (0, y0), (1, yp), clipped to [-0.5, 0.5]."""
    import torch

    den = ym - 2 * y0 + yp
    off = torch.where(den < 0, 0.5 * (ym - yp) / torch.where(den < 0, den, torch.ones_like(den)),
                      torch.zeros_like(den))
    return off.clamp(-0.5, 0.5)


def refine_peak(att: Any, method: str = "parabolic", temperature: float = 0.1) -> tuple[Any, Any]:
    """Fractional (row, col) feature coordinates of each map's maximum.

    - ``none``: the integer argmax.
    - ``parabolic``: separable 3-point parabola fit through the peak and its neighbours along
      each axis (exact for a quadratic peak); no shift on a border bin.
    - ``softargmax``: softmax-weighted centre of mass over the 3x3 neighbourhood of the argmax,
      weights exp((a - a_max) / (temperature * (a_max - a_min))) (scale-free temperature).
    Returns (rows [B] float, cols [B] float).
    """
    import torch

    if method not in REFINE_METHODS:
        raise ValueError(f"unknown refine method {method!r} (choose from {', '.join(REFINE_METHODS)})")
    B, h, w = att.shape
    r, c, _ = argmax_2d(att)
    rows, cols = r.to(att.dtype), c.to(att.dtype)
    if method == "none":
        return rows, cols
    b = torch.arange(B, device=att.device)
    if method == "parabolic":
        rm, rp = (r - 1).clamp(0, h - 1), (r + 1).clamp(0, h - 1)
        cm, cp = (c - 1).clamp(0, w - 1), (c + 1).clamp(0, w - 1)
        y0 = att[b, r, c]
        dr = _parabolic_offset(att[b, rm, c], y0, att[b, rp, c])
        dc = _parabolic_offset(att[b, r, cm], y0, att[b, r, cp])
        dr = torch.where((r > 0) & (r < h - 1), dr, torch.zeros_like(dr))
        dc = torch.where((c > 0) & (c < w - 1), dc, torch.zeros_like(dc))
        return rows + dr, cols + dc
    # softargmax over the 3x3 window (out-of-map neighbours are excluded)
    amax = att.reshape(B, -1).max(1).values
    amin = att.reshape(B, -1).min(1).values
    t = (temperature * (amax - amin)).clamp_min(1e-12)
    num_r = torch.zeros_like(rows)
    num_c = torch.zeros_like(cols)
    den = torch.zeros_like(rows)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            rr, cc = r + di, c + dj
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            a = att[b, rr.clamp(0, h - 1), cc.clamp(0, w - 1)]
            wgt = torch.where(ok, torch.exp((a - amax) / t), torch.zeros_like(a))
            num_r += wgt * di
            num_c += wgt * dj
            den += wgt
    return rows + num_r / den, cols + num_c / den


def feature_to_heatmap(rows: Any, cols: Any, feat_hw: tuple[int, int], heat_hw: tuple[int, int],
                       row_centres: Any = None, col_centres: Any = None) -> tuple[Any, Any]:
    """Rescale fractional feature coordinates (h x w grid) to heatmap coordinates (R x A grid).

    Nominal geometry (``*_centres`` None): feature bin n of a stride-s map covers heatmap bins
    [n*s, (n+1)*s), whose centre is n*s + (s-1)/2 with s = R/h (resp. A/w); linear in n, so it
    also applies to fractional n. With measured receptive-field centres (``calibrate``), the
    coordinate is linearly interpolated between (and extrapolated beyond) those centres.
    Works on numpy arrays or torch tensors (returns numpy float64).
    """
    import numpy as np

    rows = np.asarray(rows.detach().cpu() if hasattr(rows, "detach") else rows, dtype=np.float64)
    cols = np.asarray(cols.detach().cpu() if hasattr(cols, "detach") else cols, dtype=np.float64)
    (h, w), (R, A) = feat_hw, heat_hw
    if row_centres is None:
        sr = R / h
        out_r = rows * sr + (sr - 1) / 2
    else:
        out_r = _interp_extrap(rows, np.asarray(row_centres, dtype=np.float64))
    if col_centres is None:
        sc = A / w
        out_c = cols * sc + (sc - 1) / 2
    else:
        out_c = _interp_extrap(cols, np.asarray(col_centres, dtype=np.float64))
    return np.clip(out_r, 0, R - 1), np.clip(out_c, 0, A - 1)


def _interp_extrap(x: Any, centres: Any) -> Any:
    import numpy as np

    n = len(centres)
    if n == 1:
        return np.full_like(x, centres[0])
    y = np.interp(x, np.arange(n), centres)
    lo, hi = x < 0, x > n - 1
    y[lo] = centres[0] + x[lo] * (centres[1] - centres[0])
    y[hi] = centres[-1] + (x[hi] - (n - 1)) * (centres[-1] - centres[-2])
    return y

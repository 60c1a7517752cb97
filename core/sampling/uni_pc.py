"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework"), data prediction, multistep.

In lambda = -log(sigma) with data prediction m = D(x; sigma), the predictor UniP-p (eq. 8 / Algorithm 2)
and corrector UniC-p (eq. 11 / Algorithm 3) of order p share the coefficient system R rho = b built from
the phi-functions of hh = -h. B(h) = hh ("bh1") or expm1(hh) ("bh2"), Appendix C. The corrector reuses
the model output at the predicted point, so each step costs one model call.
"""
from __future__ import annotations

import math

import torch


def _coefficients(rks: list, hh: float, order: int, variant: str):
    """Rows r_k^(i-1) and right-hand side i! phi_{i+1}(hh) / B(h) for i = 1..order."""
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    factorial = 1
    rows, b = [], []
    for i in range(1, order + 1):
        rows.append([rk ** (i - 1) for rk in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return torch.tensor(rows, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), h_phi_1, b_h


def _differences(ms: list, lams: list, h: float, order: int):
    """rk = (lambda_{s_k} - lambda_{s_0}) / h and D_k = (m_{s_k} - m_{s_0}) / rk for the previous points."""
    m0, lam0 = ms[-1], lams[-1]
    rks, d1s = [], []
    for k in range(1, order):
        rk = (lams[-(k + 1)] - lam0) / h
        rks.append(rk)
        d1s.append((ms[-(k + 1)] - m0) / rk)
    rks.append(1.0)
    return rks, d1s


def _predict(x, sigma_s0, sigma_t, ms, lams, order, variant):
    lam_t = -math.log(sigma_t)
    h = lam_t - lams[-1]
    rks, d1s = _differences(ms, lams, h, order)
    R, b, h_phi_1, b_h = _coefficients(rks, -h, order, variant)
    x_t = (sigma_t / sigma_s0) * x - h_phi_1 * ms[-1]
    if d1s:
        rhos = [0.5] if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1]).tolist()
        x_t = x_t - b_h * sum(r * d for r, d in zip(rhos, d1s))
    return x_t


def _correct(x, sigma_s0, sigma_t, ms, lams, model_t, order, variant):
    lam_t = -math.log(sigma_t)
    h = lam_t - lams[-1]
    rks, d1s = _differences(ms, lams, h, order)
    R, b, h_phi_1, b_h = _coefficients(rks, -h, order, variant)
    rhos = [0.5] if order == 1 else torch.linalg.solve(R, b).tolist()
    x_t = (sigma_t / sigma_s0) * x - h_phi_1 * ms[-1]
    res = rhos[-1] * (model_t - ms[-1])
    for r, d in zip(rhos[:-1], d1s):
        res = res + r * d
    return x_t - b_h * res


@torch.no_grad()
def uni_pc(model, x, sigmas, callback=None, noise_sampler=None, variant: str = "bh1", order: int | None = None):
    """UniPC-p with the corrector on every step but the last; order min(3, steps - 1) by default, lowered
    during warm-up and for the final steps ("lower_order_final")."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    steps = len(sig) - 1
    order = max(1, min(3, steps - 1)) if order is None else order
    ms, lams = [], []
    x_prev, used_order = None, 1
    for i in range(steps):
        denoised = model(x, sigmas[i] * s_in)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "denoised": denoised})
        if x_prev is not None:  # UniC: correct the previous prediction with the model output at it
            x = _correct(x_prev, sig[i - 1], sig[i], ms, lams, denoised, used_order, variant)
        ms.append(denoised)
        lams.append(-math.log(sig[i]))
        if len(ms) > order:
            ms.pop(0)
            lams.pop(0)
        used_order = min(order, steps - i, len(ms))
        if sig[i + 1] == 0:  # lambda = inf: the exact first-order step lands on the data estimate
            return denoised
        x_prev = x
        x = _predict(x, sig[i], sig[i + 1], ms, lams, used_order, variant)
    return x


def uni_pc_bh2(model, x, sigmas, callback=None, noise_sampler=None, order: int | None = None):
    return uni_pc(model, x, sigmas, callback, noise_sampler, variant="bh2", order=order)

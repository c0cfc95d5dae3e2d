"""Power-law fits by variable projection, in relative error, float64, vectorised over replicates.

Laws (x > 0, y > 0):

* ``power``:        y = a·x^γ                      (e.g. n* vs N; γ is the growth exponent)
* ``power_offset``: y = a·x^(−α) + c              (e.g. test error vs n; α is the decay exponent)
* ``broken_power``: y = a·x^γ₁ for x ≤ x_b, continuous with slope γ₂ in log–log beyond x_b

For fixed exponents the linear coefficients (a, c ≥ 0) minimise Σ ((ŷ − y)/y)² by
non-negative least squares, in closed form for one or two columns; the exponent is then
found by a 1-D search: a grid over its bounds, refined by golden-section search around
the best grid point (the grid guards against the local minima of the profile). The broken
law is linear in log y once x_b is fixed, so for it (a, γ₁, γ₂) come from least squares in
log y (≈ relative error for small errors) and x_b from the same grid + golden search over
the inner range of x; its exponents are not bounded, and its loss is in log units.

Every fit takes ``Y`` as ``[B, P]`` — B replicates (e.g. bootstrap resamples) of the P
observations at ``x`` ``[P]`` — so a whole bootstrap is a handful of array operations.
NaN in ``Y`` marks an observation missing from that replicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

Law = Literal["power", "power_offset", "broken_power"]
EXPONENT = {"power": "gamma", "power_offset": "alpha", "broken_power": "gamma_2"}
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "power": (-4.0, 4.0),
    "power_offset": (0.0, 6.0),
    "broken_power": (-4.0, 4.0),
}
MIN_DISTINCT_X = {"power": 2, "power_offset": 3, "broken_power": 4}
GRID_POINTS = 161
GOLDEN_ITERATIONS = 48
CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Moments:
    """Weighted sums over observations that the relative-error NNLS needs (each ``[...]``)."""

    weight: np.ndarray  # Σ w
    su: np.ndarray  # Σ w·u, u = f/y
    suu: np.ndarray  # Σ w·u²
    sv: np.ndarray | None = None  # Σ w·v, v = 1/y
    svv: np.ndarray | None = None
    suv: np.ndarray | None = None


def _single(m: Moments) -> tuple[np.ndarray, np.ndarray]:
    """Best a ≥ 0 for ŷ = a·f; returns ``(a, loss)``."""
    a = np.where(m.suu > 0, np.maximum(m.su / np.where(m.suu > 0, m.suu, 1), 0), 0)
    return a, np.maximum(m.weight - 2 * a * m.su + a * a * m.suu, 0)


def _pair(m: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best a, c ≥ 0 for ŷ = a·f + c; returns ``(a, c, loss)``."""

    def loss(a, c):
        return m.weight - 2 * (a * m.su + c * m.sv) + a * a * m.suu + 2 * a * c * m.suv + c * c * m.svv

    det = m.suu * m.svv - m.suv**2
    safe = np.where(np.abs(det) > 1e-300, det, 1.0)
    a_free = (m.su * m.svv - m.sv * m.suv) / safe
    c_free = (m.sv * m.suu - m.su * m.suv) / safe
    interior = (np.abs(det) > 1e-300) & (a_free >= 0) & (c_free >= 0)
    a_only = np.maximum(m.su / np.where(m.suu > 0, m.suu, 1), 0)
    c_only = np.maximum(m.sv / np.where(m.svv > 0, m.svv, 1), 0)
    candidates = [
        (
            np.where(interior, a_free, 0),
            np.where(interior, c_free, 0),
            np.where(interior, loss(a_free, c_free), np.inf),
        ),
        (a_only, np.zeros_like(a_only), loss(a_only, 0)),
        (np.zeros_like(c_only), c_only, loss(0, c_only)),
    ]
    losses = np.stack([c[2] for c in candidates])
    best = np.argmin(losses, axis=0)
    pick = lambda k: np.choose(best, [c[k] for c in candidates])  # noqa: E731
    return pick(0), pick(1), pick(2)


def _moments(features: np.ndarray, inverse_y: np.ndarray, weight: np.ndarray, offset: bool) -> Moments:
    """Moments for features ``[..., P]`` against ``1/y`` and weights broadcastable to it."""
    u = features * inverse_y
    wu = weight * u
    kwargs = {}
    if offset:
        kwargs = {
            "sv": np.sum(weight * inverse_y, -1),
            "svv": np.sum(weight * inverse_y**2, -1),
            "suv": np.sum(wu * inverse_y, -1),
        }
    return Moments(np.sum(weight, -1) * np.ones(u.shape[:-1]), np.sum(wu, -1), np.sum(wu * u, -1), **kwargs)


def _prepare(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    valid = np.isfinite(y) & (y > 0)
    inverse_y = np.where(valid, 1.0 / np.where(valid, y, 1.0), 0.0)
    return x, inverse_y, valid.astype(np.float64)


def _fit_one_exponent(law: Law, x, y, bounds) -> dict[str, np.ndarray]:
    x, inverse_y, weight = _prepare(x, y)
    log_x = np.log(x)
    sign = 1.0 if law == "power" else -1.0
    offset = law == "power_offset"
    low, high = bounds

    def evaluate(exponent: np.ndarray):
        """``exponent`` ``[B, G]`` → coefficients and losses ``[B, G]``."""
        features = np.exp(sign * exponent[..., None] * log_x)  # [B, G, P]
        m = _moments(features, inverse_y[:, None, :], weight[:, None, :], offset)
        if offset:
            return _pair(m)
        a, loss = _single(m)
        return a, np.zeros_like(a), loss

    batch = inverse_y.shape[0]
    grid = np.broadcast_to(np.linspace(low, high, GRID_POINTS), (batch, GRID_POINTS))
    step = (high - low) / (GRID_POINTS - 1)
    # Every row searches the same grid: its features are computed once and broadcast.
    best = np.take_along_axis(grid, np.argmin(evaluate(grid[:1])[-1], axis=1)[:, None], 1)[:, 0]
    left, right = np.maximum(best - step, low), np.minimum(best + step, high)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(GOLDEN_ITERATIONS):
        inner_left = right - ratio * (right - left)
        inner_right = left + ratio * (right - left)
        losses = evaluate(np.stack([inner_left, inner_right], axis=1))[-1]
        keep_left = losses[:, 0] <= losses[:, 1]
        right = np.where(keep_left, inner_right, right)
        left = np.where(keep_left, left, inner_left)
    exponent = (left + right) / 2
    a, c, loss = (v[:, 0] for v in evaluate(exponent[:, None]))
    params = {"a": a, EXPONENT[law]: exponent, "loss": loss}
    if offset:
        params["c"] = c
    return params


def _broken_features(log_x: np.ndarray, gamma_1, gamma_2, log_break) -> np.ndarray:
    below = gamma_1 * log_x
    above = gamma_1 * log_break + gamma_2 * (log_x - log_break)
    return np.exp(np.where(log_x <= log_break, below, above))


def _broken_log_fit(log_x, log_y, weight, log_break):
    """Weighted LS of log y on [1, min(lx, lb), max(lx − lb, 0)] for breaks ``[B, G]``."""
    lb = log_break[..., None]
    features = np.stack(
        [np.ones(np.broadcast_shapes(lb.shape, log_x.shape)), np.minimum(log_x, lb), np.maximum(log_x - lb, 0)], -1
    )
    w = weight[:, None, :, None]
    gram = np.einsum("bgpi,bgpj->bgij", features * w, features) + 1e-12 * np.eye(3)
    rhs = np.einsum("bgpi,bgp->bgi", features * w, log_y[:, None, :])
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    residual = np.einsum("bgpi,bgi->bgp", features, coef) - log_y[:, None, :]
    return coef, np.sum(weight[:, None, :] * residual**2, -1)


def _fit_broken(x, y, bounds) -> dict[str, np.ndarray]:
    """Break searched over the inner range of x; for each break, a, γ₁, γ₂ by LS in log y."""
    x, inverse_y, weight = _prepare(x, y)
    log_x = np.log(x)
    log_y = np.where(weight > 0, -np.log(np.where(inverse_y > 0, inverse_y, 1.0)), 0.0)
    distinct = np.unique(log_x)
    low, high = (distinct[1], distinct[-2]) if distinct.size >= 4 else (distinct[0], distinct[-1])
    batch = y.shape[0]
    grid = np.broadcast_to(np.linspace(low, high, 64), (batch, 64))
    step = (high - low) / 63
    best = np.take_along_axis(grid, np.argmin(_broken_log_fit(log_x, log_y, weight, grid)[1], 1)[:, None], 1)[:, 0]
    left, right = np.maximum(best - step, low), np.minimum(best + step, high)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(GOLDEN_ITERATIONS):
        inner = np.stack([right - ratio * (right - left), left + ratio * (right - left)], 1)
        losses = _broken_log_fit(log_x, log_y, weight, inner)[1]
        keep_left = losses[:, 0] <= losses[:, 1]
        right = np.where(keep_left, inner[:, 1], right)
        left = np.where(keep_left, left, inner[:, 0])
    log_break = (left + right) / 2
    coef, loss = (v[:, 0] for v in _broken_log_fit(log_x, log_y, weight, log_break[:, None]))
    return {
        "a": np.exp(coef[:, 0]),
        "gamma_1": coef[:, 1],
        "gamma_2": coef[:, 2],
        "x_break": np.exp(log_break),
        "loss": loss,
    }


def fit_law_batch(
    law: Law, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float] | None = None
) -> dict[str, np.ndarray]:
    """Fit ``law`` to every row of ``y`` ``[B, P]`` at ``x`` ``[P]``; each parameter is ``[B]``.

    ``loss`` is the sum of squared relative residuals; a row with too few distinct valid
    x for the law gets NaN parameters.
    """
    bounds = bounds or DEFAULT_BOUNDS[law]
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    x = np.asarray(x, dtype=np.float64)
    if y.shape[0] == 0:  # no rows: each parameter with no values
        return {name: value[:0] for name, value in fit_law_batch(law, x, np.full((1, x.size), np.nan), bounds).items()}
    # Bootstrap replicates of a few seeds repeat rows many times over; each row is fitted on
    # its own, so fitting each distinct row once gives the same numbers for less work.
    distinct_rows, row_of = _distinct_rows(y)
    # Rows are fitted in chunks whose largest intermediate ([rows, grid, P]) stays near
    # CHUNK_ELEMENTS: large enough that NumPy's per-call overhead is not the cost.
    fit, grid = (_fit_broken, 64 * 3) if law == "broken_power" else (partial(_fit_one_exponent, law), GRID_POINTS)
    chunk = max(32, CHUNK_ELEMENTS // (grid * max(x.size, 1)))
    chunks = [fit(x, distinct_rows[start : start + chunk], bounds) for start in range(0, len(distinct_rows), chunk)]
    params = {name: np.concatenate([c[name] for c in chunks])[row_of.ravel()] for name in chunks[0]}
    valid = np.isfinite(y) & (y > 0)
    enough = _distinct_x(x, valid) >= MIN_DISTINCT_X[law]
    return {name: np.where(enough, value, np.nan) for name, value in params.items()}


def _distinct_rows(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``y`` ``[B, P]`` (NaN equal to NaN) and each row's index among them
    ``[B]``; sorted by column keys (``np.lexsort``), far cheaper than ``np.unique(axis=0)``'s
    sort of whole rows as bytes."""
    if y.shape[1] == 0:  # rows with no points: all alike (fit_law_batch never passes no rows)
        return y[:1], np.zeros(y.shape[0], dtype=np.int64)
    keyed = np.where(np.isnan(y), -np.inf, y)  # NaN ≠ NaN; −∞ is not a valid y either
    order = np.lexsort(keyed.T[::-1])
    ordered = keyed[order]
    starts = np.concatenate([[True], np.any(ordered[1:] != ordered[:-1], axis=1)])
    row_of = np.empty(y.shape[0], dtype=np.int64)
    row_of[order] = np.cumsum(starts) - 1
    return y[order[starts]], row_of


def _distinct_x(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """How many distinct values of ``x`` ``[P]`` each row of ``valid`` ``[B, P]`` keeps: ``[B]``."""
    values, position = np.unique(x, return_inverse=True)
    one_hot = position.ravel()[:, None] == np.arange(values.size)[None, :]  # [P, U]
    return ((valid.astype(np.float64) @ one_hot) > 0).sum(axis=1)


def fit_rows_with_replicates(
    law: Law, x: np.ndarray, rows: np.ndarray, replicates: np.ndarray, bounds: tuple[float, float] | None = None
) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """``law`` fitted to each observation row of ``rows`` ``[E, P]`` (NaN or ≤ 0: no value
    there) and to each bootstrap row of ``replicates`` ``[B, P]``: (one estimate per row,
    ``[B]`` per parameter). One batch, a missing point a zero weight; ``broken_power``, whose
    break is searched over the x it is given, fits each observation row on its own points."""
    x, rows = np.asarray(x, dtype=np.float64), np.atleast_2d(np.asarray(rows, dtype=np.float64))
    valid = np.isfinite(rows) & (rows > 0)
    if law == "broken_power":
        estimates = [fit_law(law, x[keep], row[keep], bounds) for row, keep in zip(rows, valid, strict=True)]
        return estimates, fit_law_batch(law, x, replicates, bounds)
    fitted = fit_law_batch(law, x, np.vstack([np.where(valid, rows, np.nan), np.atleast_2d(replicates)]), bounds)
    estimates = [{name: float(value[i]) for name, value in fitted.items()} for i in range(len(rows))]
    return estimates, {name: value[len(rows) :] for name, value in fitted.items()}


def fit_with_replicates(
    law: Law, x: np.ndarray, y: np.ndarray, replicates: np.ndarray, bounds: tuple[float, float] | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """``law`` fitted to the observations ``y`` ``[P]`` and to each bootstrap row of
    ``replicates`` ``[B, P]`` (:func:`fit_rows_with_replicates` of one row)."""
    (estimate,), fitted = fit_rows_with_replicates(law, x, np.asarray(y)[None], replicates, bounds)
    return estimate, fitted


def fit_law(law: Law, x, y, bounds: tuple[float, float] | None = None) -> dict[str, float]:
    """Fit ``law`` to observations ``y`` ``[P]`` at ``x`` ``[P]``; returns scalar parameters."""
    return {name: float(value[0]) for name, value in fit_law_batch(law, x, np.asarray(y)[None], bounds).items()}


def fit_log_law_batch(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The logarithmic law y = b·ln x + a (a, b ≥ 0) fitted to every row of ``y`` ``[B, P]``
    in the same relative error as the power laws; ``a``, ``b``, ``loss`` each ``[B]``.

    With a ≥ 0 it grows at most as fast as ln x: y(x₂)/y(x₁) ≤ ln x₂ / ln x₁ (x > 1), the
    "almost independent of x" of a polylogarithmic rate, which a free intercept would not be.
    """
    x, inverse_y, weight = _prepare(x, y)
    b, a, loss = _pair(_moments(np.log(x)[None], inverse_y, weight, offset=True))
    return {"a": a, "b": b, "loss": loss}


def predict(law: Law, params: dict[str, float], x) -> np.ndarray:
    """The fitted curve at ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if law == "power":
        return params["a"] * x ** params["gamma"]
    if law == "power_offset":
        return params["a"] * x ** (-params["alpha"]) + params["c"]
    return params["a"] * _broken_features(np.log(x), params["gamma_1"], params["gamma_2"], np.log(params["x_break"]))

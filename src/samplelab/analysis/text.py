"""How an analysis document writes its pieces: intervals as JSON, and the text shared by the
terminal tables, the figures and the HTML/Markdown report (grid points, values with CIs,
exponents, fit x and verdicts)."""

from __future__ import annotations

import math

EXPONENT_SYMBOL = {"gamma": "γ", "alpha": "α", "gamma_2": "γ₂"}


def point_text(point: dict, empty: str = "all runs") -> str:
    """``set_size=8, n_train=64``: a grid point's fields (last part of each key) and values."""
    return ", ".join(f"{key.split('.')[-1]}={value}" for key, value in point.items()) or empty


def interval_text(ci: tuple | list, spec: str = ".4g") -> str:
    """``[low, high]``; a missing lower limit reads —, a missing upper limit ∞."""
    low, high = ci
    return f"[{'—' if low is None else format(low, spec)}, {'∞' if high is None else format(high, spec)}]"


def value_ci(entry: dict | None, spec: str = ".4g") -> str:
    """``value [low, high]`` from an analysis-document entry ("not reached" when there is no value)."""
    if entry is None or entry.get("value") is None:
        return "not reached"
    return f"{format(entry['value'], spec)} {interval_text(entry['ci'], spec)}"


RELATION_SYMBOL = {"equal": "=", "above": ">", "below": "<"}


def exponent_text(fit: dict, spec: str = ".3g") -> str:
    """``γ = 0.5 [0.1, 0.6]``: a fit's exponent with its CI, or its status when it failed."""
    exponent = fit["parameters"].get(fit["exponent"])
    return f"{EXPONENT_SYMBOL[fit['exponent']]} = {value_ci(exponent, spec)}" if exponent else fit["status"]


def fit_x_label(fit: dict) -> str:
    """What a fit's x is: its grid key, or the derived measure over it (``tokens (over training.n_train)``)."""
    measure = fit.get("x_measure", "grid")
    return fit["x"] if measure == "grid" else f"{measure} (over {fit['x']})"


def json_interval(ci: tuple[float | None, float | None]) -> list[float | None]:
    """A CI as JSON: ``[low, high]`` floats, ``None`` for a limit that is missing or not finite."""
    return [None if v is None or not math.isfinite(v) else float(v) for v in ci]


def threshold_key(fraction: float) -> str:
    """How a ``threshold_relative`` names its cells in the document's ``cells_at_threshold``."""
    return f"{fraction:g}"


def threshold_text(entry: dict) -> str:
    """`` (ε = 0.1 × baseline)`` for a fit or claim read at its own threshold, else ``""``."""
    fraction = entry.get("threshold_relative")
    return "" if fraction is None else f" (ε = {fraction:g} × baseline)"


ESTIMATOR_NAMES = {"embedding_dimension": "MLE", "embedding_dimension_twonn": "TwoNN"}


def prediction_text(theory: dict) -> str:
    """``0.26 [0.23, 0.31] with d = 5.7 [4.4, 6.6] (MLE 5.7, TwoNN 4.6)``: a theory's prediction
    (a fit's ``theory``, or a theory claim's value: ``predicted``, ``predicted_range``,
    ``variables``, ``variables_ci``, ``estimators``), and its range over the measured variables'
    intervals when they are carried into it."""
    predicted_range, variables_ci = theory.get("predicted_range"), theory.get("variables_ci") or {}
    variables, estimators = theory.get("variables") or {}, theory.get("estimators") or {}
    text = f"{theory['predicted']:.3g}" + (f" {interval_text(predicted_range, '.3g')}" if predicted_range else "")

    def one(name: str, value: float) -> str:
        out = f"{name} = {value:.3g}" + (f" {interval_text(variables_ci[name], '.3g')}" if name in variables_ci else "")
        by = ", ".join(f"{ESTIMATOR_NAMES.get(c, c)} {v:.3g}" for c, v in (estimators.get(name) or {}).items())
        return out + (f" ({by})" if by else "")

    bound = ", ".join(one(name, value) for name, value in variables.items() if value is not None)
    return text + (f" with {bound}" if bound else "")

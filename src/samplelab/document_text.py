"""Text of an analysis document's pieces, shared by the terminal tables, the figures and
the HTML/Markdown report: grid points, values with CIs, exponents, fit x and verdicts."""

from __future__ import annotations

VERDICT = {True: "agrees", False: "disagrees", None: "undetermined"}
EXPONENT_SYMBOL = {"gamma": "γ", "alpha": "α", "gamma_2": "γ₂"}


def point_text(point: dict, empty: str = "all runs") -> str:
    """``set_size=8, n_train=64``: a grid point's fields (last part of each key) and values."""
    return ", ".join(f"{key.split('.')[-1]}={value}" for key, value in point.items()) or empty


def value_ci(entry: dict | None, spec: str = ".4g") -> str:
    """``value [low, high]`` from an analysis-document entry ("not reached" when there is no
    value; a missing lower limit reads —, a missing upper limit ∞)."""
    if entry is None or entry.get("value") is None:
        return "not reached"
    low, high = entry["ci"]
    low_text = "—" if low is None else format(low, spec)
    high_text = "∞" if high is None else format(high, spec)
    return f"{format(entry['value'], spec)} [{low_text}, {high_text}]"


RELATION_SYMBOL = {"equal": "=", "above": ">", "below": "<"}


def exponent_text(fit: dict, spec: str = ".3g") -> str:
    """``γ = 0.5 [0.1, 0.6]``: a fit's exponent with its CI, or its status when it failed."""
    exponent = fit["parameters"].get(fit["exponent"])
    return f"{EXPONENT_SYMBOL[fit['exponent']]} = {value_ci(exponent, spec)}" if exponent else fit["status"]


def fit_x_label(fit: dict) -> str:
    """What a fit's x is: its grid key, or the derived measure over it (``tokens (over training.n_train)``)."""
    measure = fit.get("x_measure", "grid")
    return fit["x"] if measure == "grid" else f"{measure} (over {fit['x']})"

"""What the trainer returns for an ensemble: learning curves and end-of-training probes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnsembleResult:
    """Learning curves of E members.

    Attributes:
        eval_steps: ``[K+1]`` optimizer steps at which the test metric was taken (0, k, 2k…).
        samples_per_step: training examples drawn per step (the batch size).
        test_metric: ``[E, K+1]`` mean test metric (task units) at each eval step.
        train_loss: ``[E, K]`` mean training loss over the ``k`` steps before each eval.
        diverged: ``[E]`` true where any loss or metric was NaN/inf.
        attention_entropy: ``[E, K+1, layers, heads]`` mean entropy (nats) of each head's
            attention rows at each eval, over the first 64 test examples and all destination
            tokens; ``None`` for models without ``attention_weights``.
        validation_loss: ``[E, K+1]`` mean training loss on the validation split at each
            eval step; ``None`` when ``training.validation_size`` is 0.
        test_loss: ``[E, K+1]`` mean training loss (the task's ``loss``) on the test set.
        train_metric, train_set_loss: ``[E, K+1]`` metric and loss over the member's whole
            training set (its first ``n_train`` examples) at each eval; finite dataset tasks
            only (``None`` for generator tasks, whose pools are not enumerated).
        weight_sparsity: ``[E]`` fraction of the entries of weight matrices (float arrays of
            rank ≥ 2) with ``|w| ≤ 1e-5`` after training.
        embeddings: ``[E, P, d]`` final-layer embeddings (``model.embeddings``, pooled by the
            task's ``pool_embedding``, else the last token's) of up to 1,024 test examples
            after training, with ``embedding_valid [E, P]`` marking real ones; ``None`` for
            models without ``embeddings``.
        embedding_dimension: ``[E]`` their intrinsic dimension by seed 002's estimator
            (Levina–Bickel MLE, k = 20, cosine, mean of point-wise estimates);
            ``embedding_dimension_twonn``: TwoNN's (euclidean), a second estimator.
        params: the trained parameters, arrays with a leading ensemble axis E.
    """

    eval_steps: np.ndarray
    samples_per_step: int
    test_metric: np.ndarray
    train_loss: np.ndarray
    diverged: np.ndarray
    params: object
    attention_entropy: np.ndarray | None = None  # [E, K+1, layers, heads] nats; None: model has no attention probe
    validation_loss: np.ndarray | None = None  # [E, K+1]; None: no validation split
    test_loss: np.ndarray | None = None  # [E, K+1] mean training loss on the test set
    train_metric: np.ndarray | None = None  # [E, K+1] metric on the whole training set; None: generator task
    train_set_loss: np.ndarray | None = None  # [E, K+1] loss on the whole training set; None: generator task
    weight_sparsity: np.ndarray | None = None  # [E] fraction of weight-matrix entries with |w| ≤ 1e-5 at the end
    embeddings: np.ndarray | None = None  # [E, P, d] final-layer embeddings of test examples
    embedding_valid: np.ndarray | None = None  # [E, P] bool: which of the P are real test examples
    embedding_dimension: np.ndarray | None = None  # [E] MLE (k = 20, cosine) of the valid embeddings
    embedding_dimension_twonn: np.ndarray | None = None  # [E] TwoNN (euclidean) of the same embeddings

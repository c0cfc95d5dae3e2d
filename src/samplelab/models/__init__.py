"""Model registry: importing this package registers every built-in model."""

from samplelab.models import attention_mlp, ffn, l1_transformer, mlp, rnn, transformer  # noqa: F401  (registers)
from samplelab.models.base import MODELS, ModelConfig, build_model

__all__ = ["MODELS", "ModelConfig", "build_model"]

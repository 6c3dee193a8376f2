"""The only package that imports torch and diffusers at import time."""

# The libraries' own chatter (this pipeline's deprecation, the PIL image-processor fallback without
# torchvision, dtype casts) is not for our users; real failures still surface as exceptions.
# Set before diffusers/transformers import their models, which is when some of it is printed.
from transformers.utils import logging as _transformers_logging  # isort: skip

_transformers_logging.set_verbosity_error()
from diffusers.utils import logging as _diffusers_logging  # noqa: E402  isort: skip

_diffusers_logging.set_verbosity_error()

from .engine import CancelToken, Engine, EngineJob, EngineResult, StepInfo  # noqa: E402
from .models import DEMO_NOTICE, LoadedModel, ModelInfo, load_model  # noqa: E402



def load_engine(source: str, **kw) -> Engine:
    """I2VGen-XL's engine with ``source`` loaded (the family registry's entry point, i2v/families/engines.py)."""
    return Engine(load_model(source, **kw))


def cuda_device_count() -> int:
    """GPUs this process can see (0 on a machine without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


__all__ = ["cuda_device_count", "CancelToken", "Engine", "EngineJob", "EngineResult", "StepInfo", "DEMO_NOTICE",
           "LoadedModel", "ModelInfo", "load_engine", "load_model"]

"Federated SSL with Flower (nbs/80-86). Needs the `federated` extra: pip install \"brainssl[federated]\"."
try:
    import flwr  # noqa: F401  every module of this subpackage but `config` runs on Flower
except ImportError as e:  # ModuleNotFoundError, or flwr blocked/broken
    raise ModuleNotFoundError(f"brainssl.federated needs Flower (flwr), which cannot be imported here ({e}); install the "
                              "federated extra: pip install \"brainssl[federated]\"", name="flwr") from e

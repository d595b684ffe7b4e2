"""Small, explicit models, losses, data and training loops for comparing optimizers."""

__all__: list[str] = []

"""The LLaMA model, the mixture-driven data loader and the training loop (docs/recipe/model.md)."""

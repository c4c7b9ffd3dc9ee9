"""The LLaMA model, the mixture-driven data loader and the training loop (SPEC §9)."""

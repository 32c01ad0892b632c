"""Model helpers: tiny random checkpoints for tests and the placeholder default model."""

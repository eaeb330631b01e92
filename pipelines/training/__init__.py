"""Training: the checkpointer (blocking stall vs background persist, atomic and fsynced), and the fine-tune
recipe beside it."""

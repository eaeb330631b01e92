"""Training: the checkpointer (blocking stall vs background persist, atomic and fsynced), and the fine-tune
recipe beside it (pipelines.training.lora; its checkpoint state in .state, its data-parallel processes in
.distributed and .launch)."""

"""The packaged hydra configs, addressable as ``pkg://abc_grpo_verl.conf``."""

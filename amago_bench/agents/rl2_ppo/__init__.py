"""RL^2-PPO: on-policy PPO over whole k-episode trials with a GRU memory (the paper's PPO-GRU baseline)."""

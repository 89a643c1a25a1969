"""AMAGO-2, the reference agent: config.py (configs as data), model.py (network), losses.py (the
two loss switches), learner.py (optimiser, checkpoints), agent.py (acting with a key/value
cache), replay.py (on-disk replay), bench.py (`amago-bench bench agent`). Imports torch."""

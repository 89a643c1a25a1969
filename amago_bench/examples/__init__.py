"""Examples that run from an installed package: an agent written against the protocol
(``--agent amago_bench.examples.heuristic:WinStayLoseShift``) and training SB3 on a suite through
its Gymnasium id (``python -m amago_bench.examples.train_sb3``). README.md walks through both."""

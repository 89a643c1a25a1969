"""scripts/fidelity/curves.py: collecting a few runs on a fresh checkout adds them to the committed
curves instead of erasing the runs whose folders are not here."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "fidelity"))
from curves import merge_into  # noqa: E402

KEYS = ["task", "impl", "seed"]


def _rows(impl: str, seed: int, scores: list[float], task: str = "RepeatPreviousEasy") -> pd.DataFrame:
    return pd.DataFrame({"impl": impl, "task": task, "seed": seed, "env_steps": [2000 * (i + 1) for i in range(len(scores))],
                         "wall_s": [10.0 * (i + 1) for i in range(len(scores))], "normalised": scores})


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    path = tmp_path / "curves.csv"
    pd.concat([_rows("default", 0, [0.1, 0.2]), _rows("default", 1, [1 / 3, 0.9]), _rows("other", 0, [0.5])]).to_csv(path, index=False)
    return path


def test_a_run_found_replaces_its_rows_and_the_rest_are_kept_exactly(committed: Path) -> None:
    before = committed.read_text()
    df = merge_into(committed, _rows("default", 1, [0.4, 0.95, 1.0]), KEYS)
    assert df[(df.impl == "default") & (df.seed == 1)]["normalised"].tolist() == [0.4, 0.95, 1.0]
    kept = [line for line in before.splitlines() if ",1," not in line or "other" in line]
    assert all(line in committed.read_text().splitlines() for line in kept)  # byte for byte, floats included
    assert len(df) == 2 + 3 + 1


def test_nothing_found_leaves_the_file_byte_for_byte(committed: Path) -> None:
    before = committed.read_text()
    merge_into(committed, _rows("default", 0, [])[KEYS + ["env_steps", "wall_s", "normalised"]].iloc[:0], KEYS)
    merge_into(committed, pd.read_csv(committed)[lambda d: d.impl == "other"], KEYS)  # the same run again
    assert committed.read_text() == before


def test_a_new_file_is_written(tmp_path: Path) -> None:
    df = merge_into(tmp_path / "sub" / "new.csv", _rows("default", 3, [0.2]), KEYS)
    assert len(df) == 1 and (tmp_path / "sub" / "new.csv").exists()

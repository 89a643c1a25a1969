"""Suites as data: frozen task/suite specs, the TOML loader and the registry.

A suite file under ``suites/`` says everything the harness needs to build and score a
multi-task suite: which tasks, how their native envs are made, how a k-episode trial runs,
the unified observation/action layout, the train/test seed ranges and the reference scores
used for normalisation. Nothing here imports a benchmark package.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from amago_bench.envs.metaworld_suites import ML1_PREFIX, ml1_suite_data  # data only: never imports metaworld
from amago_bench.envs.popgym_suites import (  # data only: never imports popgym
    POPGYM_SINGLE_PREFIX, POPGYM_SUBSETS, SOURCE_SUITE, popgym_single_suite_data, popgym_subset_suite_data)
from amago_bench.errors import SuiteError
from amago_bench.resources import data_dir, find_data_file

Split = Literal["train", "test"]
TaskSplit = Literal["train", "test", "both"]
RefKind = Literal["random-expert", "human", "min-max", "random-oracle", "none"]
TrialScore = Literal["return", "success"]

SPLITS: tuple[Split, ...] = ("train", "test")
#: The split ``amago-bench evaluate`` scores when none is given: the held-out tasks (where a suite
#: has them) and the held-out seed range, the split results are ranked on.
EVAL_SPLIT: Split = "test"
#: The split ``gym.make`` builds when none is given: the one to train on, so a training script that
#: does not say never sees the tasks and seeds it will be scored on. (A task id of a task that is
#: only in the test split builds that split.)
TRAIN_SPLIT: Split = "train"
REF_KINDS: tuple[str, ...] = ("random-expert", "human", "min-max", "random-oracle", "none")
TRIAL_SCORES: tuple[str, ...] = ("return", "success")

#: Where the shipped suite files live (package data).
SUITES_DIR = data_dir("suites")
#: Where the shipped measured reference scores (e.g. uniform-random returns) live.
REFERENCE_DIR = data_dir("reference")


@dataclass(frozen=True)
class ReferenceScore:
    """The two ends used to normalise one task's trial score: (R - low) / (high - low)."""

    kind: str
    """One of REF_KINDS: how the ends were obtained (random/expert, human, min-max...)."""
    low: float | None
    """Low end (random policy, game minimum). None until it is measured (``low = "measured"``)."""
    high: float | None
    """High end (expert, human, game maximum, oracle)."""
    source: str = ""
    """Where the numbers come from (paper, table, or the command that measured them)."""
    low_measured: bool = False
    """True when ``low`` comes from ``suites/reference/<suite>-random.json``."""

    def normalise(self, value: float) -> float:
        """(value - low) / (high - low); NaN when an end is unknown."""
        if self.low is None or self.high is None or self.high == self.low:
            return float("nan")
        return (value - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: how to build its native env and how to score it."""

    name: str
    """Short unique name inside the suite, e.g. ``RepeatPreviousEasy``."""
    env_id: str
    """The benchmark's own id (Gymnasium id, Meta-World class name, ...)."""
    split: TaskSplit = "both"
    """Which split(s) the task belongs to."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for the native env constructor."""
    reward_scale: float = 1.0
    """Multiplier applied to native rewards (scale probes, rescaled Procgen)."""
    reference: ReferenceScore = ReferenceScore(kind="none", low=None, high=None)
    """Normalisation ends."""

    def in_split(self, split: Split) -> bool:
        return self.split == "both" or self.split == split


@dataclass(frozen=True)
class TrialSpec:
    """How one trial (k consecutive episodes of the same task variant) runs and is scored."""

    episodes: int
    """k, the number of episodes in a trial."""
    scored_episodes: tuple[int, ...]
    """0-based indices of the episodes whose results count towards the trial score."""
    max_episode_steps: int
    """Hard cap on one episode's length (the episode is truncated there)."""
    score: str = "return"
    """Trial score: sum of the scored episodes' returns ("return") or their mean success."""
    zero_unscored_rewards: bool = False
    """If true, rewards of unscored episodes are shown to the agent but given as 0."""


@dataclass(frozen=True)
class SuiteSpec:
    """A whole suite, as loaded from ``suites/<name>.toml``."""

    name: str
    family: str
    """Env adapter family (module under ``amago_bench.envs``)."""
    description: str
    packages: tuple[str, ...]
    """Python modules the suite needs (import names)."""
    extra: str
    """The pip extra that installs them (:func:`amago_bench.installation.pip_install` names the command)."""
    trial: TrialSpec
    observation: Mapping[str, Any]
    """Unified observation layout (see :func:`amago_bench.envs.spaces.space_from_spec`)."""
    action: Mapping[str, Any]
    """Unified action layout."""
    seeds: Mapping[str, tuple[int, int]]
    """Half-open seed ranges per split: the task variant (layout, goal...) is drawn from these."""
    tasks: tuple[TaskSpec, ...]
    backends: tuple[str, ...] = ("official",)
    default_backend: str = "official"
    options: Mapping[str, Any] = field(default_factory=dict)
    """Family-specific options (e.g. Procgen distribution mode, Atari frame skip)."""
    path: str = ""
    """The file the spec was loaded from."""
    spec_hash: str = ""
    """sha256 prefix of the canonical suite file content (not of measured references)."""

    def task_names(self, split: Split | None = None) -> list[str]:
        return [t.name for t in self.tasks if split is None or t.in_split(split)]

    @property
    def trial_protocol(self) -> str:
        """The trial protocol in one line: part of every run's comparability key."""
        t = self.trial
        return (f"k={t.episodes} scored={list(t.scored_episodes)} score={t.score} "
                f"max_steps={t.max_episode_steps} zero_unscored={t.zero_unscored_rewards}")

    def tasks_for(self, split: Split) -> tuple[TaskSpec, ...]:
        return tuple(t for t in self.tasks if t.in_split(split))

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise SuiteError(
            f"unknown task {name!r} in suite {self.name!r}; known: {', '.join(self.task_names())}"
        )

    def seed_range(self, split: Split) -> tuple[int, int]:
        if split not in self.seeds:
            raise SuiteError(f"suite {self.name!r} has no seed range for split {split!r}")
        return self.seeds[split]


# --------------------------------------------------------------------------------------
# Loading


def _req(table: Mapping[str, Any], key: str, where: str, typ: type | tuple[type, ...]) -> Any:
    if key not in table:
        raise SuiteError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        tname = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise SuiteError(f"{where}: key {key!r} must be {tname}, got {value!r}")
    return value


def _opt(table: Mapping[str, Any], key: str, where: str, typ, default):
    if key not in table:
        return default
    return _req(table, key, where, typ)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _parse_reference(raw: Any, where: str, measured: Mapping[str, float] | None, task: str) -> ReferenceScore:
    if raw is None:
        return ReferenceScore(kind="none", low=None, high=None)
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: key 'reference' must be a table")
    _check_keys(raw, {"kind", "low", "high", "source"}, f"{where}.reference")
    kind = _req(raw, "kind", f"{where}.reference", str)
    if kind not in REF_KINDS:
        raise SuiteError(f"{where}.reference: kind {kind!r} is not one of {', '.join(REF_KINDS)}")
    source = _opt(raw, "source", f"{where}.reference", str, "")
    high = _opt(raw, "high", f"{where}.reference", (int, float), None)
    low_raw = raw.get("low")
    low_measured = False
    if low_raw == "measured":
        low_measured = True
        low = None if measured is None else measured.get(task)
    elif low_raw is None:
        low = None
    elif isinstance(low_raw, (int, float)) and not isinstance(low_raw, bool):
        low = float(low_raw)
    else:
        raise SuiteError(f"{where}.reference: key 'low' must be a number or \"measured\", got {low_raw!r}")
    return ReferenceScore(
        kind=kind,
        low=low,
        high=None if high is None else float(high),
        source=source,
        low_measured=low_measured,
    )


def measured_reference_path(suite_name: str, directory: Path | None = None) -> Path:
    """A suite's measured reference file: in ``directory`` if given, else the first that exists
    among :func:`amago_bench.resources.data_dirs` (where ``calibrate`` writes, then the shipped folder)."""
    name = f"{suite_name}-random.json"
    if directory is not None:
        return directory / name
    return find_data_file("reference", name) or REFERENCE_DIR / name


def load_measured_reference(suite_name: str, directory: Path | None = None) -> dict[str, float] | None:
    """Per-task uniform-random trial scores measured by ``amago-bench calibrate``."""
    path = measured_reference_path(suite_name, directory)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return {name: float(row["mean"]) for name, row in data["tasks"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise SuiteError(
            f"{path}: malformed measured reference file ({exc}); re-create it with "
            f"`amago-bench calibrate --suite {suite_name}`"
        ) from exc


def parse_suite(raw: Mapping[str, Any], path: str = "<memory>", measured: Mapping[str, float] | None = None) -> SuiteSpec:
    """Validate a parsed TOML document and build a :class:`SuiteSpec`."""
    where = path
    _check_keys(
        raw,
        {"name", "family", "description", "packages", "extra", "trial", "spaces", "seeds", "tasks",
         "backends", "default_backend", "options", "defaults"},
        where,
    )
    name = _req(raw, "name", where, str)
    family = _req(raw, "family", where, str)
    description = _opt(raw, "description", where, str, "")
    packages = tuple(_opt(raw, "packages", where, list, []))
    extra = _opt(raw, "extra", where, str, "")

    trial_raw = _req(raw, "trial", where, dict)
    tw = f"{where} [trial]"
    _check_keys(trial_raw, {"episodes", "scored_episodes", "max_episode_steps", "score", "zero_unscored_rewards"}, tw)
    k = _req(trial_raw, "episodes", tw, int)
    if k < 1:
        raise SuiteError(f"{tw}: key 'episodes' must be >= 1, got {k}")
    scored = tuple(_opt(trial_raw, "scored_episodes", tw, list, list(range(k))))
    if not scored or any(not isinstance(i, int) or not 0 <= i < k for i in scored):
        raise SuiteError(f"{tw}: key 'scored_episodes' must list episode indices in [0, {k}), got {list(scored)}")
    score = _opt(trial_raw, "score", tw, str, "return")
    if score not in TRIAL_SCORES:
        raise SuiteError(f"{tw}: key 'score' must be one of {', '.join(TRIAL_SCORES)}, got {score!r}")
    trial = TrialSpec(
        episodes=k,
        scored_episodes=scored,
        max_episode_steps=_req(trial_raw, "max_episode_steps", tw, int),
        score=score,
        zero_unscored_rewards=_opt(trial_raw, "zero_unscored_rewards", tw, bool, False),
    )

    spaces = _req(raw, "spaces", where, dict)
    sw = f"{where} [spaces]"
    _check_keys(spaces, {"observation", "action"}, sw)
    observation = _req(spaces, "observation", sw, dict)
    action = _req(spaces, "action", sw, dict)

    seeds_raw = _req(raw, "seeds", where, dict)
    seeds: dict[str, tuple[int, int]] = {}
    for split in SPLITS:
        rng = _req(seeds_raw, split, f"{where} [seeds]", list)
        if len(rng) != 2 or not all(isinstance(x, int) for x in rng) or rng[0] >= rng[1]:
            raise SuiteError(f"{where} [seeds]: key {split!r} must be [start, stop) with start < stop, got {rng}")
        seeds[split] = (rng[0], rng[1])
    a, b = seeds["train"], seeds["test"]
    if a[0] < b[1] and b[0] < a[1]:
        raise SuiteError(f"{where} [seeds]: train {list(a)} and test {list(b)} ranges overlap; make them disjoint")

    defaults = _opt(raw, "defaults", where, dict, {})
    tasks_raw = _req(raw, "tasks", where, list)
    if not tasks_raw:
        raise SuiteError(f"{where}: 'tasks' is empty; add at least one [[tasks]] table")
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(tasks_raw):
        tw = f"{where} [[tasks]] #{i}"
        if not isinstance(t, dict):
            raise SuiteError(f"{tw}: must be a table")
        merged = {**defaults, **t}
        tname = _req(merged, "name", tw, str)
        tw = f"{where} task {tname!r}"
        _check_keys(merged, {"name", "env_id", "split", "kwargs", "reward_scale", "reference"}, tw)
        if tname in seen:
            raise SuiteError(f"{tw}: duplicate task name")
        seen.add(tname)
        split = _opt(merged, "split", tw, str, "both")
        if split not in ("train", "test", "both"):
            raise SuiteError(f"{tw}: key 'split' must be train, test or both, got {split!r}")
        tasks.append(
            TaskSpec(
                name=tname,
                env_id=_req(merged, "env_id", tw, str),
                split=split,
                kwargs=dict(_opt(merged, "kwargs", tw, dict, {})),
                reward_scale=float(_opt(merged, "reward_scale", tw, (int, float), 1.0)),
                reference=_parse_reference(merged.get("reference"), tw, measured, tname),
            )
        )
    for split in SPLITS:
        if not any(t.in_split(split) for t in tasks):
            raise SuiteError(f"{where}: no task in split {split!r}; set split = \"both\" or add one")

    backends = tuple(_opt(raw, "backends", where, list, ["official"]))
    default_backend = _opt(raw, "default_backend", where, str, backends[0])
    if default_backend not in backends:
        raise SuiteError(f"{where}: default_backend {default_backend!r} is not in backends {list(backends)}")

    # The hash covers the suite file only: measured reference scores enter at scoring time, so
    # re-measuring them (``calibrate``) does not make earlier results incomparable.
    canonical = json.dumps({"suite": raw}, sort_keys=True, default=str)
    return SuiteSpec(
        name=name,
        family=family,
        description=description,
        packages=packages,
        extra=extra,
        trial=trial,
        observation=observation,
        action=action,
        seeds=seeds,
        tasks=tuple(tasks),
        backends=backends,
        default_backend=default_backend,
        options=dict(_opt(raw, "options", where, dict, {})),
        path=path,
        spec_hash=hashlib.sha256(canonical.encode()).hexdigest()[:16],
    )


def load_suite_file(path: str | Path, reference_dir: Path | None = None) -> SuiteSpec:
    """Load and validate one suite file. Errors name the file and the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from exc
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite file ({exc})") from exc
    name = raw.get("name") if isinstance(raw.get("name"), str) else path.stem
    measured = load_measured_reference(name, reference_dir)
    return parse_suite(raw, str(path), measured)


# --------------------------------------------------------------------------------------
# Registry


def suite_files(directory: Path | None = None) -> dict[str, Path]:
    """Suite name -> file, for every ``*.toml`` in the suites folder."""
    directory = directory or SUITES_DIR
    return {p.stem: p for p in sorted(directory.glob("*.toml"))}


def list_suites(directory: Path | None = None) -> list[str]:
    return sorted(suite_files(directory))


def get_suite(name: str, directory: Path | None = None) -> SuiteSpec:
    """Load a suite by name or path. Unknown names fail with the list of known suites."""
    p = Path(name)
    if p.suffix == ".toml":
        if not p.is_file():
            raise SuiteError(f"suite file {name} does not exist; give the path to a suite .toml file or a suite name "
                             "(`amago-bench suites` lists them)")
        return load_suite_file(p)
    files = suite_files(directory)
    if name in files:
        spec = load_suite_file(files[name])
        if spec.name != name:
            raise SuiteError(f"{files[name]}: key 'name' is {spec.name!r} but the file is {name}.toml; make them match")
        return spec
    for prefix, family_suite in _DYNAMIC_PREFIXES.items():
        if name.startswith(prefix):
            return family_suite(name)
    raise SuiteError(f"unknown suite {name!r}; known: {', '.join(sorted(files))}")


#: Prefix -> builder for suites generated on demand (e.g. ``ml1-<task>``); filled by env families.
_DYNAMIC_PREFIXES: dict[str, Any] = {}


def register_dynamic_suite(prefix: str, builder) -> None:
    """Let an env family build suites whose names start with ``prefix`` (e.g. ``ml1-``)."""
    _DYNAMIC_PREFIXES[prefix] = builder


def _ml1_suite(name: str) -> SuiteSpec:
    raw = ml1_suite_data(name)
    return parse_suite(raw, path=f"<{raw['name']}>", measured=load_measured_reference(raw["name"]))


register_dynamic_suite(ML1_PREFIX, _ml1_suite)


def _popgym_suite(build):
    def suite(name: str) -> SuiteSpec:
        raw = build(name, tomllib.loads(suite_files()[SOURCE_SUITE].read_text()))
        return parse_suite(raw, path=f"<{raw['name']}>", measured=load_measured_reference(SOURCE_SUITE))
    return suite


register_dynamic_suite(POPGYM_SINGLE_PREFIX, _popgym_suite(popgym_single_suite_data))
for _subset in POPGYM_SUBSETS:
    register_dynamic_suite(_subset, _popgym_suite(popgym_subset_suite_data))

#: Suites built on demand, as `amago-bench suites` names them: a pattern and what it stands for,
#: or a fixed name.
GENERATED_SUITES: dict[str, str] = {
    f"{ML1_PREFIX}<task>": "one Meta-World task class, ML1 train/test goals (e.g. ml1-reach)",
    f"{POPGYM_SINGLE_PREFIX}<Task>": "one POPGym task alone, 1 episode per trial (e.g. popgym-single-RepeatFirstEasy)",
    **{name: "POPGym " + ", ".join(tasks) + ", 1 episode per trial" for name, tasks in POPGYM_SUBSETS.items()},
}

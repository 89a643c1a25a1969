"""Backend parity: does the EnvPool port of a suite behave like the official package?

For a suite that lists both backends, :func:`parity_check` compares them through the same
:class:`~amago_bench.envs.trial.TrialEnv` and the same evaluation protocol, task by task:

1. spaces: each backend's task env declares the suite's unified spaces, and its observations
   lie in them with the same shape and dtype;
2. first observation: reset both backends on the same variant with the same seed and compare.
   How strictly depends on the family (its module's ``PARITY`` dict): ``"exact"`` (every value
   equal), ``"close"`` (at least ``min_equal_fraction`` of the values equal) or ``"none"``
   (the port cannot match the first frame; reported, not judged). ``PARITY["first_obs_exempt"]``
   maps task names to the reason a known port difference makes one task's first frame differ
   (reported with the reason and the measured fraction, not judged);
3. random-policy trial scores: ``n_trials`` trials per task per backend with a uniform random
   agent on the *same* job list (same variants, same agent seed), then two two-sample tests
   on the trial scores: Mann-Whitney U (location) and Kolmogorov-Smirnov (shape). A task
   agrees when both p-values are above ``alpha`` after a Bonferroni correction over the
   2 x tasks tests.

The report is written to ``reports/parity/<suite>.md`` and ``.json``. Nothing here is specific
to a family: any suite with ``backends = ["official", "envpool"]`` gets it.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from amago_bench.resources import default_reports_dir
from amago_bench.suite import Split, SuiteError, SuiteSpec, get_suite

REPORTS_DIR = default_reports_dir() / "parity"
BACKENDS = ("official", "envpool")


@dataclass(frozen=True)
class TaskParity:
    """Parity of one task. Score arrays have shape (n_trials,)."""

    task: str
    spaces_equal: bool
    """Both task envs declare the suite's spaces and their observations fit them."""
    first_obs_rule: str
    """exact | close | none (from the family's PARITY)."""
    first_obs_equal_fraction: float
    """Fraction of observation values that are identical after the first reset."""
    first_obs_ok: bool | None
    """Whether the first observations meet the rule (None when the rule is "none" or the task is exempt)."""
    scores_official: tuple[float, ...]
    scores_envpool: tuple[float, ...]
    mannwhitney_p: float
    ks_p: float
    scores_agree: bool
    first_obs_note: str = ""
    """Why the first observation is not judged (a known port difference), if so."""

    @property
    def ok(self) -> bool:
        return self.spaces_equal and self.first_obs_ok is not False and self.scores_agree


@dataclass(frozen=True)
class ParityReport:
    """Parity of a whole suite (one row per task)."""

    suite: str
    split: str
    n_trials: int
    seed: int
    alpha: float
    threshold: float
    """Per-test p-value threshold: alpha / (2 x tasks) (Bonferroni)."""
    tasks: tuple[TaskParity, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(t.ok for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        for row, t in zip(d["tasks"], self.tasks):
            row["ok"] = t.ok
            row["mean_official"] = _mean(t.scores_official)
            row["mean_envpool"] = _mean(t.scores_envpool)
        return d

    def to_markdown(self) -> str:
        lines = [
            f"# Backend parity: `{self.suite}` (official vs envpool)",
            "",
            f"Split `{self.split}`, {self.n_trials} random-policy trials per task and backend, seed {self.seed}. "
            f"Tests: Mann-Whitney U and Kolmogorov-Smirnov on trial scores, two-sided; a task agrees when both "
            f"p > {self.threshold:.4g} (alpha {self.alpha} / {2 * len(self.tasks)} tests, Bonferroni).",
            "",
            f"**Result: {'PASS' if self.passed else 'FAIL'}** "
            f"({sum(t.ok for t in self.tasks)}/{len(self.tasks)} tasks agree)",
            "",
            "| task | spaces | first obs (rule: equal fraction) | mean official | mean envpool | MW p | KS p | ok |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in self.tasks:
            fo = {True: "ok", False: "DIFFERS", None: "not judged"}[t.first_obs_ok]
            if t.first_obs_note:
                fo += f" [{t.first_obs_note}]"
            lines.append(
                f"| {t.task} | {'same' if t.spaces_equal else 'DIFFER'} | {fo} ({t.first_obs_rule}: "
                f"{t.first_obs_equal_fraction:.4f}) | {_mean(t.scores_official):.3f} +- {_std(t.scores_official):.3f} | "
                f"{_mean(t.scores_envpool):.3f} +- {_std(t.scores_envpool):.3f} | {t.mannwhitney_p:.3g} | "
                f"{t.ks_p:.3g} | {'yes' if t.ok else 'NO'} |"
            )
        lines += ["", "Provenance:", ""]
        lines += [f"- {k}: `{v}`" for k, v in self.provenance.items()]
        return "\n".join(lines) + "\n"


def _mean(x) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _std(x) -> float:
    return float(np.std(x)) if len(x) else float("nan")


def two_sample_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Mann-Whitney U p, Kolmogorov-Smirnov p), two-sided, for samples a (n,), b (m,).

    Two samples made of one and the same constant give p = 1 for both (no evidence of a
    difference); scipy would return NaN there.
    """
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan")
    both = np.concatenate([a, b])
    if np.all(both == both[0]):
        return 1.0, 1.0
    mw = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    ks = stats.ks_2samp(a, b, alternative="two-sided").pvalue
    return float(mw), float(ks)


def family_parity_rule(suite: SuiteSpec) -> dict[str, Any]:
    """The family's ``PARITY`` dict (default: first observations must be exactly equal)."""
    mod = importlib.import_module(f"amago_bench.envs.{suite.family}")
    rule = dict(getattr(mod, "PARITY", {"first_obs": "exact"}))
    if rule.get("first_obs") not in ("exact", "close", "none"):
        raise ValueError(f"amago_bench.envs.{suite.family}.PARITY['first_obs'] must be exact, close or none")
    return rule


def _flat(obs: Any) -> np.ndarray:
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs[k]).ravel().astype(np.float64) for k in sorted(obs)])
    return np.asarray(obs).ravel().astype(np.float64)


def _obs_signature(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: (np.asarray(v).shape, np.asarray(v).dtype.str) for k, v in obs.items()}
    return (np.asarray(obs).shape, np.asarray(obs).dtype.str)


def _check_spaces_and_first_obs(suite: SuiteSpec, split: Split, task: str, variant: int, env_seed: int,
                                rule: dict[str, Any]) -> tuple[bool, float, bool | None]:
    from amago_bench.envs.base import make_task_env
    from amago_bench.envs.trial import TrialEnv

    spec = suite.task(task)
    firsts, signatures, spaces_ok = [], [], True
    for backend in BACKENDS:
        tenv = make_task_env(suite, spec, backend)
        try:
            env = TrialEnv(suite, split, task=task, backend=backend)
            spaces_ok &= tenv.observation_space == env.observation_space and tenv.action_space == env.action_space
            obs, _ = env.reset(seed=env_seed, options={"variant": variant})
            spaces_ok &= bool(env.observation_space.contains(obs))
            firsts.append(obs)
            signatures.append(_obs_signature(obs))
            env.close()
        finally:
            tenv.close()
    spaces_ok &= signatures[0] == signatures[1]
    if not spaces_ok:
        return False, float("nan"), False if rule["first_obs"] != "none" else None
    a, b = _flat(firsts[0]), _flat(firsts[1])
    frac = float(np.mean(a == b)) if a.size else 1.0
    if rule["first_obs"] == "exact":
        ok: bool | None = frac == 1.0
    elif rule["first_obs"] == "close":
        ok = frac >= float(rule.get("min_equal_fraction", 0.95))
    else:
        ok = None
    return True, frac, ok


def parity_check(
    suite_name: str | SuiteSpec,
    split: Split = "test",
    n_trials: int = 30,
    seed: int = 0,
    tasks: Iterable[str] | None = None,
    alpha: float = 0.05,
    num_envs: int = 1,
    write: bool = True,
    out_dir: Path | None = None,
    progress: bool = False,
) -> ParityReport:
    """Compare the official and EnvPool backends of a suite; see the module docstring.

    Returns the :class:`ParityReport`; with ``write`` also stores it as
    ``<out_dir>/<suite>.md`` and ``.json`` (default ``reports/parity``).
    """
    from amago_bench.evaluate import evaluate, plan_jobs
    from amago_bench.policy import RandomAgent
    from amago_bench.scoring import trial_scores

    import pandas as pd

    suite = suite_name if isinstance(suite_name, SuiteSpec) else get_suite(suite_name)
    missing = [b for b in BACKENDS if b not in suite.backends]
    if missing:
        raise SuiteError(
            f"suite {suite.name!r} cannot be parity-checked: it lists backends {list(suite.backends)}, "
            f"and parity needs both {', '.join(BACKENDS)}"
        )
    if n_trials < 2:
        raise SuiteError(f"n_trials must be >= 2 for a two-sample test, got {n_trials}")
    names = list(tasks) if tasks is not None else suite.task_names(split)
    for n in names:
        if not suite.task(n).in_split(split):
            raise SuiteError(f"task {n!r} is not in the {split} split of {suite.name!r}")
    rule = family_parity_rule(suite)
    jobs = plan_jobs(suite, split, 1, seed, names)
    first_job = {j.task: j for j in jobs}

    scores: dict[str, dict[str, np.ndarray]] = {}
    for backend in BACKENDS:
        records = evaluate(RandomAgent(), suite, split, trials_per_task=n_trials, seed=seed, num_envs=num_envs,
                           backend=backend, tasks=names, progress=progress)
        ts = trial_scores(pd.DataFrame(records), suite)
        scores[backend] = {t: ts.loc[ts["task"] == t, "score"].to_numpy(float) for t in names}

    threshold = alpha / (2 * len(names))
    rows = []
    for name in names:
        job = first_job[name]
        spaces_ok, frac, first_ok = _check_spaces_and_first_obs(suite, split, name, job.variant, job.env_seed, rule)
        note = dict(rule.get("first_obs_exempt", {})).get(name, "")
        if note and spaces_ok:
            first_ok = None
        a, b = scores["official"][name], scores["envpool"][name]
        mw, ks = two_sample_tests(a, b)
        rows.append(TaskParity(
            task=name, spaces_equal=spaces_ok, first_obs_rule=rule["first_obs"], first_obs_equal_fraction=frac,
            first_obs_ok=first_ok, scores_official=tuple(map(float, a)), scores_envpool=tuple(map(float, b)),
            mannwhitney_p=mw, ks_p=ks, scores_agree=bool(mw > threshold and ks > threshold), first_obs_note=note,
        ))
    report = ParityReport(
        suite=suite.name, split=split, n_trials=n_trials, seed=seed, alpha=alpha, threshold=threshold,
        tasks=tuple(rows), provenance=_provenance(suite, n_trials, seed, split),
    )
    if write:
        write_report(report, out_dir)
    return report


def _provenance(suite: SuiteSpec, n_trials: int, seed: int, split: str) -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for pkg in ("envpool", "ale-py", "gymnasium", "numpy", "scipy", "minigrid", "metaworld"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "command": f"amago-bench parity --suite {suite.name} --split {split} --trials {n_trials} --seed {seed}",
        "suite_file": _relative(suite.path),
        "spec_hash": suite.spec_hash,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPORTS_DIR.resolve().parent.parent))
    except ValueError:
        return path


def write_report(report: ParityReport, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Write ``<suite>.md`` and ``<suite>.json``; returns both paths."""
    out = Path(out_dir) if out_dir is not None else REPORTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{report.suite}.md", out / f"{report.suite}.json"
    md.write_text(report.to_markdown())
    js.write_text(json.dumps(report.to_dict(), indent=2, default=float) + "\n")
    return md, js

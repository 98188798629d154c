"""Architectures and trials named on the command line: GENOTYPE.json, zoo:NAME, RESULTS_DIR:TRIAL, best."""

from __future__ import annotations

from pathlib import Path

from nas.cli.args import UsageError


def load_architecture(spec: str):
    """A genotype from a JSON file, ``zoo:NAME`` or ``RESULTS_DIR:TRIAL`` ('best' = most accurate ok trial)."""
    import searchspace as ss
    from searchspace.genotype import Genotype

    if spec.startswith("zoo:"):
        try:
            return ss.zoo.get(spec[4:]), spec[4:]
        except KeyError as e:
            raise UsageError(str(e).strip("'\"")) from None
    path = Path(spec)
    if path.is_file():
        try:
            return Genotype.from_json(path.read_bytes()), path.stem
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
    folder, _, trial = spec.rpartition(":")
    if folder and Path(folder).is_dir():
        row = find_trial(folder, trial or "best")
        return Genotype.from_json(row["genotype"]), f"{Path(folder).name}-{row['trial_id']}"
    raise UsageError(f"{spec!r} is not a genotype JSON file, zoo:NAME, or RESULTS_DIR:TRIAL")


def find_trial(folder: str | Path, trial: str):
    """The record row of a trial id, or for 'best' of the ok trial best by the search's score (val_acc, or the
    first metric of its own that its objectives name: `nas.report.plots.Score`) (`nas.record.results.find_trial`)."""
    from nas import objectives
    from nas.record import results
    from nas.report import plots

    try:
        df = results.load(folder)
    except FileNotFoundError:
        raise UsageError(f"{folder}: no results there (no trials.jsonl)") from None
    config = plots.read_config(Path(folder))  # (the record is read once, above)
    score = plots.Score.of(config)
    front = objectives.saved_front(config) or {score.name: score.sense}
    try:  # among the trials that count for the search's objectives (`nas.objectives.counts`)
        return results.find_trial(df, trial, metric=score.name, mode=score.sense, objectives=front)
    except ValueError as e:
        raise UsageError(f"{folder}: {e}") from None

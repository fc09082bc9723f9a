"""A first study file for a user's own data: ``tuner init DATA.csv``.

A newcomer should go from a CSV to a running study without learning the study
file's keys first. The series is read as ``tuner run`` will read it (columns,
dates, frequency, season: every refusal comes now, in one line), a study file is
drafted with a comment on each choice, and it is checked as ``tuner create``
checks one (windows, preparations, batch sizes) before a byte is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tuner._checks import STUDY_NAME_PATTERN, require_path
from tuner.data.calendar import season_of
from tuner.data.dates import date_label
from tuner.data.series import BUILTIN_SERIES, Series
from tuner.data.source import DataSource
from tuner.exceptions import ConfigError, DataError, TunerError
from tuner.search.memory import check_fits_in_memory
from tuner.search.panel import Member, members, panel_id_column
from tuner.search.space import SearchSpace
from tuner.search.studyfile import parse_study_text, with_series
from tuner.search.windows import StudyData

__all__ = ["StarterStudy", "check_study", "draft", "draft_study", "study_name_from"]

DEFAULT_TEST_SIZE = 12
"""The validation window of a series without a season; one season where it has one."""


@dataclass(frozen=True)
class StarterStudy:
    """A drafted study file and what it was drafted from.

    Attributes:
        text: The study file, comments included.
        series: The series as loaded.
        data: The study's windows, checked as ``tuner create`` checks them.
    """

    text: str
    series: Series
    data: StudyData

    def summary(self) -> str:
        """One line: the series, its frequency and season, the windows chosen."""
        series, data = self.series, self.data
        season = season_of(series)
        holdout = f"holdout {data.holdout}" if data.holdout else "no holdout (too short)"
        return (
            f"{len(series)} observations from {date_label(series.index[0])} to "
            f"{date_label(series.index[-1])}, "
            f"{'season ' + str(season) if season else 'no season'}; validation "
            f"{data.config.data.test_size}, {holdout}"
        )


def draft_study(
    data: str | Path,
    study_file: str | Path,
    name: str | None = None,
    date_column: str | None = None,
    value_column: str | None = None,
    date_format: str | None = None,
) -> StarterStudy:
    """Draft and check a study file for the CSV ``data``, to be written at ``study_file``.

    Raises:
        ConfigError: ``study_file`` exists, the name is not a study name, or the
            series is too short for a validation window.
        DataError: The series cannot be read faithfully (see
            :func:`tuner.data.series.load_series`).
    """
    require_path("data", data)
    require_path("study file", study_file)
    target = Path(study_file)
    if target.exists():
        raise ConfigError(f"{target} exists; give another path with -o, or remove it")
    return draft(
        DataSource(str(data), date_column, value_column, date_format=date_format), target, name
    )


def draft(source: DataSource, study_file: Path, name: str | None = None) -> StarterStudy:
    """Draft and check a study file for ``source``, as :func:`draft_study`, whatever is there.

    Raises:
        ConfigError, DataError: As :func:`draft_study`, but for an existing file.
    """
    data, date_format = source.data, source.date_format
    series = source.load()
    study_name = name if name is not None else study_name_from(Path(data).stem)
    text = _study_text(series, study_name, _relative_to(study_file, data), date_format)
    return StarterStudy(text, series, check_study(text, study_file, data))


def check_study(text: str, study_file: Path, series: str) -> StudyData:
    """Check a study file as ``tuner create`` will, its series at ``series``; return its data.

    Raises:
        ConfigError: A key breaks its rule, the windows or preparations do not fit
            the series, or a trial would not fit in memory.
        DataError: The series cannot be loaded.
    """
    config = with_series(parse_study_text(text, str(study_file)), series)
    if panel_id_column(config) is None:
        checked = StudyData.load(config)
    else:
        checked = _first_usable(members(config))
    space = SearchSpace.build(checked)
    check_fits_in_memory(checked.config, checked.search, space.batch_sizes)
    return checked


def _first_usable(found: list[Member]) -> StudyData:
    """A panel is checked on its first series the study file fits, as creating it skips the rest.

    Raises:
        ConfigError, DataError: No series fits; the first one's reason.
    """
    first_error: TunerError | None = None
    for member in found:
        try:
            return StudyData.load(member.config)
        except (ConfigError, DataError) as error:
            first_error = first_error or error
    assert first_error is not None  # a panel has a series
    raise first_error


def study_name_from(text: str) -> str:
    """A study name from a file's stem or a series' id: letters, digits, '-', '_' and '.' kept."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "study"
    return name[:100] if STUDY_NAME_PATTERN.fullmatch(name[:100]) else "study"


def _relative_to(study_file: Path, data: str) -> str:
    """``data`` as the study file will read it: relative to the study file's directory."""
    if data in BUILTIN_SERIES:
        return data
    base = study_file.absolute().parent
    return Path(os.path.relpath(Path(data).absolute(), base)).as_posix()


def _test_size(series: Series) -> int:
    """One season (else 12 observations), at most a fifth of the series."""
    wanted = season_of(series) or DEFAULT_TEST_SIZE
    return max(1, min(wanted, len(series) // 5))


def _study_text(series: Series, name: str, data: str, date_format: str | None) -> str:
    season = season_of(series)
    test_size = _test_size(series)
    lines = [
        f"# A study of {Path(series.name).name}, drafted by 'tuner init': every key is",
        "# explained in docs/study-file.md. Run it with 'tuner run' and this file.",
        f"name = {_quoted(name)}",
        "trials = 40          # global budget of finished trials, shared by all workers",
        "repeats = 5          # fits per trial; a trial's value is their mean validation score",
        "seed = 0",
        "",
        "[data]",
        f"series = {_quoted(data)}"
        + ("" if data in BUILTIN_SERIES else "   # relative to this file"),
        f"date_column = {_quoted(str(series.index.name))}",
        f"value_column = {_quoted(series.value_column)}",
    ]
    if date_format is not None:
        lines.append(f"date_format = {_quoted(date_format)}")
    lines += [
        f"test_size = {test_size}"
        + (
            f"        # the validation window: one season of {season}"
            if season == test_size
            else "        # the validation window"
        ),
        '# holdout = "auto" (the default): the last observations are kept from the search',
        "# and score only the best configurations, once, when the search ends.",
        "# horizon = 1: one step ahead. To score the H-step forecasts you will make, set",
        "# horizon = H and origins = 3 (or more).",
        "",
        "[search]",
        'preset = "auto"      # the space derived from the series: transforms its values',
        "# allow, a seasonal difference, lags up to two seasons, small networks (the rule:",
        '# docs/method.md, "The automatic search space"). A key written here overrides',
        "# the derived one, e.g. epochs = { low = 50, high = 1000, log = true }.",
        "",
        "[pruner]",
        "enabled = true",
        "checkpoints = 2      # report after half the repeats; prune if worse than the median",
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """``text`` as a TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'

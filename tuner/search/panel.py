"""Panels: one study file over a long CSV of many series, one study per series.

A forecaster rarely has one series, and the convention of statsforecast,
neuralforecast and utilsforecast is one long table with a row per series and
date (``unique_id``, ``ds``, ``y``). A study file whose ``[data] series`` is such
a table (it has an ``id_column``, ``unique_id`` by default) describes a panel:
one study per series, named ``PANEL.ID``, each with the file's settings and its
own budget of ``trials`` (docs/guide.md, "Panels"). Nothing here touches a
database; :mod:`tuner.search.panel_studies` creates and finds the studies.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tuner._checks import STUDY_NAME_PATTERN
from tuner.data.frames import ID
from tuner.data.series import csv_columns, panel_ids
from tuner.exceptions import ConfigError
from tuner.search.studyfile import StudyConfig

__all__ = ["Member", "member_config", "member_name", "members", "panel_id_column"]


@dataclass(frozen=True)
class Member:
    """One series of a panel and its study.

    Attributes:
        panel: The panel's name (the study file's ``name``).
        unique_id: The series' id in the panel.
        position: Where the series first appears in the file (0 for the first).
        config: Its study: the panel's file, named ``PANEL.ID``, reading that series only.
    """

    panel: str
    unique_id: str
    position: int
    config: StudyConfig

    @property
    def record(self) -> dict[str, object]:
        """What a member study stores of its panel (``names.PANEL``), to be read back."""
        return {
            "panel": self.panel,
            "id_column": self.config.data.id_column,
            "unique_id": self.unique_id,
            "position": self.position,
        }


def panel_id_column(config: StudyConfig) -> str | None:
    """The id column when ``config`` describes a panel; ``None`` for one series.

    A file that names one series (``[data] unique_id``) is one study; otherwise
    ``[data] id_column``, or a ``unique_id`` column in the CSV, makes it a panel.

    Raises:
        DataError: The CSV cannot be read.
    """
    data = config.data
    if data.unique_id is not None:
        return None
    if data.id_column is not None:
        return data.id_column
    return ID if ID in csv_columns(data.series) else None


def members(config: StudyConfig) -> list[Member]:
    """Every series of the panel ``config`` describes, in file order, with its study.

    Raises:
        ConfigError: ``config`` is no panel, or two ids make the same study name.
        DataError: The CSV cannot be read, or has no such id column.
    """
    id_column = panel_id_column(config)
    if id_column is None:
        raise ConfigError(f"study {config.name!r} describes one series, not a panel")
    found = [
        Member(config.name, unique_id, position, member_config(config, unique_id, id_column))
        for position, unique_id in enumerate(panel_ids(config.data.series, id_column))
    ]
    _check_distinct_names(found)
    return found


def member_config(config: StudyConfig, unique_id: str, id_column: str) -> StudyConfig:
    """The study of series ``unique_id`` of the panel ``config``."""
    data = dataclasses.replace(config.data, id_column=id_column, unique_id=unique_id)
    return dataclasses.replace(config, name=member_name(config.name, unique_id), data=data)


def member_name(panel: str, unique_id: str) -> str:
    """``PANEL.ID``, the id's characters outside a study name's replaced by ``-``.

    Raises:
        ConfigError: The name would be longer than a study name may be.
    """
    name = f"{panel}.{_safe(unique_id)}"
    if not STUDY_NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"series {unique_id!r} of panel {panel!r} makes study name {name!r}, over 100 "
            "characters; shorten the panel's name or the ids"
        )
    return name


def _safe(unique_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", unique_id.strip()) or "-"


def _check_distinct_names(found: list[Member]) -> None:
    """Refuse two ids that differ only in characters a study name cannot hold."""
    seen: dict[str, str] = {}
    for member in found:
        other = seen.setdefault(member.config.name, member.unique_id)
        if other != member.unique_id:
            raise ConfigError(
                f"series {other!r} and {member.unique_id!r} both make study name "
                f"{member.config.name!r}; rename one of them in the CSV"
            )

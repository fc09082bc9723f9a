"""A panel's studies as stored: one created per usable series, and found again by name.

A panel has no row of its own: its studies carry its name
(:data:`tuner.search.names.PANEL`), so a worker, ``tuner status`` or the
notebook API given the panel's name finds them all, in file order, however
many machines created them (docs/guide.md, "Panels").
"""

from __future__ import annotations

from collections.abc import Callable

from tuner.exceptions import ConfigError, DataError, StorageError
from tuner.search import names
from tuner.search.panel import members
from tuner.search.study import create_study, load_study_config
from tuner.search.studyfile import StudyConfig
from tuner.storage.database import open_storage, release_connections
from tuner.storage.url import DatabaseURL

__all__ = ["OnSkip", "create_panel", "panel_studies", "studies_named"]

OnSkip = Callable[[str, str], None]
"""Called with a series' id and why it was skipped, in one line."""


def create_panel(
    config: StudyConfig,
    text: str,
    url: DatabaseURL,
    budget: int | None = None,
    *,
    baselines: bool = True,
    on_skip: OnSkip | None = None,
) -> tuple[list[str], int]:
    """Create the study of every usable series of the panel ``config`` (idempotent).

    A series the study file does not fit (too short for its windows, values a
    transform refuses...) is skipped, ``on_skip`` told why, and the rest go on.

    Returns:
        The panel's studies in file order, and how many of them are new.

    Raises:
        ConfigError: No series of the panel can be tuned (the first one's reason is
            given), or two ids make one study name.
        StorageError: The database cannot be used, or holds a study of a member's
            name with another study file.
        DataError: The CSV cannot be read.
    """
    studies: list[str] = []
    created = 0
    reasons: list[str] = []
    for member in members(config):
        try:
            new = create_study(
                member.config, text, url, budget, baselines=baselines, panel=member.record
            )
        except (ConfigError, DataError) as error:
            reason = _one_line(error)
            reasons.append(f"series {member.unique_id!r}: {reason}")
            if on_skip is not None:
                on_skip(member.unique_id, reason)
            continue
        studies.append(member.config.name)
        created += new
    if not studies:
        raise ConfigError(f"no series of panel {config.name!r} can be tuned; {reasons[0]}")
    return studies, created


def panel_studies(name: str, url: DatabaseURL) -> list[str]:
    """The fully created studies of panel ``name``, in the order of its file; none if no panel.

    Raises:
        StorageError: No database at ``url`` (nothing is created).
    """
    storage = open_storage(url, create=False)
    try:
        studies = storage.get_all_studies()
    finally:
        release_connections(storage)  # a worker opens its own, with its heartbeat settings
    found = []
    for study in studies:
        record = study.user_attrs.get(names.PANEL)
        if record and record.get("panel") == name and study.user_attrs.get(names.READY):
            found.append((record["position"], study.study_name))
    return [study for _, study in sorted(found)]


def studies_named(name: str, url: DatabaseURL) -> list[str]:
    """``[name]`` for a study, the panel's studies for a panel.

    Raises:
        StorageError: No study or panel of that name (the existing studies are
            listed), or the study was not fully created.
        ConfigError: ``name`` is not a safe study name.
    """
    try:
        _, storage = load_study_config(name, url)
    except StorageError:
        found = panel_studies(name, DatabaseURL.of(url))
        if found:
            return found
        raise
    release_connections(storage)  # a worker opens its own, with its heartbeat settings
    return [name]


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

"""`tuner dashboard` serves optuna-dashboard on the study storage."""

import io
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from tests.helpers.commands import (
    get_json,
    run_tuner,
    served_artifacts,
    start_dashboard,
    study_detail,
)
from tests.helpers.studies import small_study_toml
from tests.helpers.training import SHAMPOO_PERSISTENCE_RMSE
from tuner.outputs.artifacts import TRIAL_ARTIFACTS

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture
def dashboard(small_study):
    process, base = start_dashboard(
        ["--storage", small_study["url"], "--artifacts", str(small_study["artifacts"])]
    )
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_the_dashboard_serves_the_study_and_its_trials(dashboard):
    studies = get_json(f"{dashboard}/api/studies")["study_summaries"]
    (study,) = [s for s in studies if s["study_name"] == "small"]
    detail = get_json(f"{dashboard}/api/studies/{study['study_id']}")
    assert len(detail["trials"]) == 4
    assert {trial["state"] for trial in detail["trials"]} == {"Complete"}


def test_the_study_attribute_table_holds_short_lines(dashboard):
    detail = study_detail(dashboard, "small")
    shown = {row["key"]: row["value"] for row in detail["user_attrs"]}
    assert max(map(len, shown.values())) < 200, shown
    assert shown["baselines_validation"].startswith("validation RMSE: persistence 136.8, ")
    assert detail["objective_names"] == ["validation mean RMSE"]


def test_every_complete_trial_has_its_plots_downloadable_as_png(dashboard):
    served = served_artifacts(dashboard, "small")
    assert sorted(served) == [0, 1, 2, 3]
    for number, files in served.items():
        assert set(files) == set(TRIAL_ARTIFACTS), number
        for content in files.values():
            image = Image.open(io.BytesIO(content))
            image.verify()
            assert image.format == "PNG" and min(image.size) >= 300


def test_the_study_note_gives_the_data_the_baseline_and_the_study_file(dashboard, small_study):
    body = study_detail(dashboard, "small")["note"]["body"]
    assert "36 observations" in body
    assert "the last 12 are the validation window; 20 training rows" in body
    assert f"validation RMSE {SHAMPOO_PERSISTENCE_RMSE:.3f}" in body
    assert body.index("**No holdout.**") < body.index("**Data**")  # the caveat leads
    assert "| persistence | 136.761 |" in body  # the baselines table
    assert small_study_toml("small", small_study["csv"]).strip() in body


@pytest.mark.slow
def test_the_dashboard_page_renders_the_study_in_a_real_browser(dashboard, tmp_path):
    study_id = study_detail(dashboard, "small")["trials"][0]["study_id"]
    text = _rendered(f"{dashboard}/dashboard/studies/{study_id}/trials", tmp_path)
    assert "4 Trials" in text, text[-3000:]
    assert " ".join(TRIAL_ARTIFACTS) in text


@pytest.mark.slow
def test_the_study_page_names_the_objective_and_reads_in_short_lines(dashboard, tmp_path):
    study_id = study_detail(dashboard, "small")["trials"][0]["study_id"]
    text = _rendered(f"{dashboard}/dashboard/studies/{study_id}", tmp_path)
    assert "History y Axis validation mean RMSE" in text, text[:3000]
    assert "Objective 0" not in text
    assert "Study Artifacts best_and_baselines.png" in text  # drawn when the search ended
    assert "Study User Attributes holdout 0 windows" in text.replace(
        "Key sorted ascending Value sorted ascending ", ""
    )
    assert '"forecasts"' not in text and "[search]" not in text  # long records out of sight


def _rendered(url: str, tmp_path) -> str:
    """The page's text as headless Chromium renders it (skipped where it is missing)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("TUNER_TEST_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, but TUNER_TEST_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    page = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert page.returncode == 0, page.stderr[-2000:]
    return " ".join(re.sub(r"<style.*?</style>|<[^>]+>", " ", page.stdout, flags=re.S).split())


def test_a_bad_port_is_refused():
    result = run_tuner("dashboard", "--port", "70000")
    assert result.returncode == 2
    assert result.stderr == (
        "tuner dashboard: error: --port must be between 1 and 65535; got 70000\n"
    )


def test_the_dashboard_never_prints_the_database_password(postgres_url, tmp_path):
    from sqlalchemy.engine import make_url

    from tuner.storage.database import open_storage, release_connections

    release_connections(open_storage(postgres_url))  # the tables a study would have made
    with_password = make_url(postgres_url).set(password="s3cret-pw")  # trust auth ignores it
    url = with_password.render_as_string(hide_password=False)
    process, _ = start_dashboard(["--storage", url, "--artifacts", str(tmp_path / "a")])
    process.terminate()
    out, err = process.communicate(timeout=10)
    assert "s3cret-pw" not in out + err
    assert out.splitlines()[0].startswith(
        f"optuna-dashboard for {with_password.render_as_string()}"
    )
    assert ":***@" in out.splitlines()[0]
    assert "at http://127.0.0.1:" in out.splitlines()[0]  # localhost unless --host says otherwise

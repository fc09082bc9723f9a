from collections.abc import Mapping

import optuna
import pytest

from tests.helpers import ROOT
from tests.helpers.studies import SHAMPOO_20, study_toml
from tuner.exceptions import ConfigError
from tuner.search.space import TUTORIAL_CONFIGURATION, SearchSpace
from tuner.search.studyfile import IntRange, load_study_file, parse_study_text
from tuner.search.windows import StudyData

STUDIES = ROOT / "studies"

MINIMAL_SEARCH = {"epochs": {"low": 10, "high": 100, "log": True}, "neurons": [1, 2]}


def _minimal(data: Mapping[str, object] = SHAMPOO_20, **search: object) -> str:
    """The smallest study file: every setting left out takes its documented default."""
    return study_toml("s", trials=5, data=data, search={**MINIMAL_SEARCH, **search})


MINIMAL = _minimal()


@pytest.mark.parametrize("name", ["shampoo", "airline"])
def test_shipped_study_files_load_and_fit_their_data(name):
    config, text = load_study_file(STUDIES / f"{name}.toml")
    assert config.name == name
    assert text.startswith("#")
    space = SearchSpace.build(StudyData.load(config))
    assert space.batch_sizes


def test_minimal_file_gets_documented_defaults():
    config = parse_study_text(MINIMAL)
    assert config.search.epochs == IntRange(10, 100, log=True)
    assert config.search.neurons == [1, 2]
    assert config.repeats == 10 and config.engine == "fast" and config.seed == 0
    assert len(config.search.regimes) == 8
    assert config.sampler.kind == "tpe" and config.pruner.enabled
    space = SearchSpace.build(StudyData.load(config))
    assert space.batch_sizes == [1, 2, 4]
    assert not space.contains(TUTORIAL_CONFIGURATION)  # 1000 epochs is outside 10..100
    wider = parse_study_text(_minimal(epochs={"low": 10, "high": 2000, "log": True}))
    assert SearchSpace.build(StudyData.load(wider)).contains(TUTORIAL_CONFIGURATION)


def _edit(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = ", "is not valid TOML"),
        (
            _edit("trials = 5", "trials = 5\ncolour = 'red'"),
            "unknown key 'colour'; allowed keys: name, trials",
        ),
        (
            MINIMAL + "colour = 'red'\n",
            "unknown key 'search.colour'; allowed keys in [search]: epochs",
        ),
        (_edit("train_size = 20", "train_size = 20\nsize = 3"), "unknown key 'data.size'"),
        (_edit("trials = 5", "trials = 'five'"), "trials must be an integer; got 'five'"),
        (_edit("trials = 5", "trials = 0"), "trials must be an integer >= 1; got 0"),
        (_edit("trials = 5", "trials = true"), "trials must be an integer; got True"),
        (_edit('name = "s"\n', ""), "missing required key 'name'"),
        (
            _edit("low = 10, high = 100", "low = 100, high = 10"),
            "search.epochs: high must be >= low; got low 100, high 10",
        ),
        (_edit("neurons = [1, 2]", "neurons = []"), "search.neurons must list at least one value"),
        (
            _edit("neurons = [1, 2]", "neurons = 'many'"),
            "search.neurons must be a table with keys low, high, log or a list of int",
        ),
        (MINIMAL + "regimes = []\n", "search.regimes must list at least one of reset_epoch"),
        (MINIMAL + "regimes = ['sometimes']\n", "search.regimes[0] must be one of reset_epoch,"),
        (
            MINIMAL + "framing = []\n",
            "search.framing must list at least one of features, timesteps",
        ),
        (MINIMAL + "framing = ['rows']\n", "search.framing[0] must be one of features, timesteps"),
        (
            MINIMAL + "[sampler]\nkind = 'grid'\n",
            "search.epochs must be a list of values with sampler.kind = 'grid'; got a range",
        ),
        (MINIMAL + "[sampler]\nkind = 'cmaes'\n", "sampler.kind must be one of tpe, grid"),
        (
            MINIMAL + "[workers]\nheartbeat_interval = 10\ngrace_period = 5\n",
            "workers.grace_period must be longer than workers.heartbeat_interval (10); got 5",
        ),
        (
            _edit("trials = 5", "trials = 5\nengine = 'turbo'"),
            "engine must be one of fast, keras",
        ),
        (
            _edit('name = "s"', 'name = "../../../escaped"'),
            "name must be 1 to 100 letters, digits, '-', '_' or '.', not starting with a dot; "
            "got '../../../escaped'",
        ),
        (_edit('name = "s"', 'name = ".hidden"'), "got '.hidden'"),
        (_edit('name = "s"', 'name = "a/b"'), "got 'a/b'"),
        (_edit('name = "s"', f'name = "{"x" * 101}"'), "name must be 1 to 100 letters"),
        (
            _edit("trials = 5", "trials = 5\nrepeats = 100000"),
            "repeats must be an integer <= 1,000; got 100,000",
        ),
        (
            _edit("neurons = [1, 2]", "neurons = { low = 1, high = 100000 }"),
            "search.neurons.high must be an integer <= 1,024; got 100,000",
        ),
        (
            _edit("low = 10, high = 100", "low = 10, high = 2000000"),
            "search.epochs.high must be an integer <= 100,000; got 2,000,000",
        ),
        (MINIMAL + "lag = [1, 5000]\n", "search.lag[1] must be an integer <= 1,000; got 5,000"),
        (
            MINIMAL + "update_epochs = [0, 20000]\n",
            "search.update_epochs[1] must be an integer <= 10,000; got 20,000",
        ),
        (MINIMAL + "layers = [0, 1]\n", "search.layers[0] must be an integer >= 1; got 0"),
        (MINIMAL + "layers = [1, 4]\n", "search.layers[1] must be an integer <= 3; got 4"),
        (
            MINIMAL + "layers = { low = 1, high = 4 }\n",
            "search.layers.high must be an integer <= 3; got 4",
        ),
        (
            MINIMAL + "learning_rate = { low = 0, high = 0.01 }\n",
            "search.learning_rate.low must be a finite number in [1e-05, 1]; got 0.0",
        ),
        (
            MINIMAL + "learning_rate = { low = 0.001, high = 2 }\n",
            "search.learning_rate.high must be a finite number in [1e-05, 1]; got 2.0",
        ),
        (
            MINIMAL + "learning_rate = { low = 0.01, high = 0.001 }\n",
            "search.learning_rate: high must be >= low; got low 0.01, high 0.001",
        ),
        (
            MINIMAL + "learning_rate = [0.001, nan]\n",
            "search.learning_rate[1] must be a finite number in [1e-05, 1]; got nan",
        ),
        (
            MINIMAL + 'learning_rate = "fast"\n',
            "search.learning_rate must be a table with keys low, high or a list of float",
        ),
        (
            _edit(
                "epochs = { low = 10, high = 100, log = true }",
                "epochs = [10]\nlearning_rate = { low = 1e-4, high = 0.01 }",
            )
            + "[sampler]\nkind = 'grid'\n",
            "search.learning_rate must be a list of values with sampler.kind = 'grid'",
        ),
        (
            MINIMAL + "[workers]\nmax_consecutive_failures = 0\n",
            "workers.max_consecutive_failures must be an integer >= 1; got 0",
        ),
    ],
)
def test_bad_study_files_are_refused_naming_the_key(text, expected):
    with pytest.raises(ConfigError) as error:
        parse_study_text(text, "bad.toml")
    assert str(error.value).startswith("bad.toml")
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def _space(sampler: Mapping[str, object] | None = None, **search: object) -> SearchSpace:
    """The search space of a study of the model's settings, with ``search`` added."""
    model_search = {"epochs": [1000], "neurons": [1, 2], "batch_size": [4], "regimes": ["seeded"]}
    text = study_toml("m", trials=5, search={**model_search, **search}, sampler=sampler)
    config = parse_study_text(text)
    return SearchSpace.build(StudyData.load(config))


def test_layers_and_learning_rate_are_sampled_only_when_searched():
    plain = _space()
    assert plain.config.search.layers == [1] and plain.config.search.learning_rate is None
    trial = optuna.create_study().ask()
    hyperparameters, _ = plain.suggest(trial)
    assert "layers" not in trial.params and "learning_rate" not in trial.params
    assert hyperparameters.layers == 1 and hyperparameters.learning_rate == 0.001
    assert plain.largest_layers == 1 and "layers" not in plain.grid()

    searched = _space(layers={"low": 1, "high": 3}, learning_rate={"low": 0.0005, "high": 0.02})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = [searched.suggest(study.ask())[0] for _ in range(30)]
    assert {hp.layers for hp in sampled} == {1, 2, 3}
    rates = [hp.learning_rate for hp in sampled]
    assert min(rates) >= 0.0005 and max(rates) <= 0.02 and len(set(rates)) == 30
    assert sum(rate < 0.0032 for rate in rates) > 5, "log scale: the low decade is sampled"
    assert searched.largest_layers == 3


def test_a_grid_lists_layers_and_learning_rates():
    space = _space({"kind": "grid"}, layers=[1, 2], learning_rate=[0.001, 0.01])
    assert space.grid()["layers"] == [1, 2] and space.grid()["learning_rate"] == [0.001, 0.01]
    points = space.grid_points()
    assert len(points) == 2 * 2 * 2  # neurons x layers x learning rates
    assert all(space.contains(point) for point in points)
    assert not space.contains({**points[0], "layers": 3})
    assert not space.contains({**points[0], "learning_rate": 0.005})


@pytest.mark.parametrize(
    ("searched", "tutorial_fits"),
    [
        ({}, True),
        ({"layers": [1, 2]}, True),
        ({"layers": [2, 3]}, False),
        ({"learning_rate": {"low": 0.0005, "high": 0.02}}, True),
        ({"learning_rate": [0.01, 0.1]}, False),
    ],
    ids=["defaults", "layers-1-2", "layers-2-3", "rate-range", "rates-0.01-0.1"],
)
def test_the_tutorial_configuration_means_one_layer_and_keras_rate(searched, tutorial_fits):
    space = _space(**searched)
    tutorial = space.with_defaults(TUTORIAL_CONFIGURATION)
    assert space.contains(tutorial) is tutorial_fits
    assert space.contains(TUTORIAL_CONFIGURATION) is tutorial_fits  # absent means the default
    if tutorial_fits:  # enqueued, the trial is the tutorial's configuration exactly
        study = optuna.create_study()
        study.enqueue_trial(tutorial)
        hyperparameters, preparation = space.suggest(study.ask())
        assert hyperparameters.layers == 1 and hyperparameters.learning_rate == 0.001
        assert preparation.lag == 1 and hyperparameters.neurons == 1


@pytest.mark.parametrize("sizes", [[3, 4], [3, 5, 7]], ids=["one-invalid", "none-valid"])
def test_a_batch_size_that_does_not_fit_the_data_lists_the_allowed(sizes):
    config = parse_study_text(_minimal(batch_size=sizes))
    with pytest.raises(ConfigError) as error:
        SearchSpace.build(StudyData.load(config))
    assert str(error.value) == (
        "search.batch_size 3 does not divide both the training and the test rows "
        "(lag 1: 20 training, 12 test rows); allowed: 1, 2, 4"
    )


def test_batch_sizes_must_fit_every_sampled_lag():
    config = parse_study_text(_minimal({"series": "shampoo"}, lag={"low": 1, "high": 2}))
    space = SearchSpace.build(StudyData.load(config))
    assert space.batch_sizes == [1]


def test_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read study file .*nope.toml"):
        load_study_file(tmp_path / "nope.toml")

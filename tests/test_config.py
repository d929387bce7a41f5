"""Profiles: chosen by COURSE_PROFILE, else by GPU presence; unknown names are explained."""

import pytest

from helpers import config, models


def test_course_profile_chooses(isolated_assets, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert config.load_profile().name == "full"
    assert config.load_profile("quick").name == "quick"


def test_default_follows_the_gpu(isolated_assets, monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert config.load_profile().name == "full"
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.load_profile().name == "quick"


def test_unknown_profile_names_the_choices(isolated_assets, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"'fast'.*\['full', 'quick', 'smoke'\]"):
        config.load_profile()


def test_course_seed_replaces_the_profiles_seed(isolated_assets, monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    default = config.load_profile("quick")
    monkeypatch.setenv("COURSE_SEED", "2")
    reseeded = config.load_profile("quick")
    assert reseeded.seed == 2 != default.seed
    assert reseeded == config.dataclasses.replace(default, seed=2)   # nothing else changes
    monkeypatch.setenv("COURSE_SEED", "two")
    with pytest.raises(ValueError, match="COURSE_SEED must be an integer, found 'two'"):
        config.load_profile("quick")


def test_full_profile_is_the_keras_guide_setup():
    full = config.PROFILES["full"]
    assert (full.base, full.dataset, full.image_size, full.batch_size) == (
        "xception", "tfds:cats_vs_dogs", 150, 64)
    assert (full.head_epochs, full.fine_tune_epochs) == (2, 1)
    assert (full.head_learning_rate, full.fine_tune_learning_rate) == (1e-3, 1e-5)  # Adam()


def test_every_profile_names_a_registered_base():
    for profile in config.PROFILES.values():
        assert profile.base in models.BASES


def test_describe_names_the_source_but_no_path(isolated_assets, monkeypatch):
    quick = config.PROFILES["quick"]
    assert "official downloads" in quick.describe()
    monkeypatch.setenv("COURSE_ASSETS", str(isolated_assets))
    assert "offline mirror" in quick.describe()
    assert str(isolated_assets) not in quick.describe()

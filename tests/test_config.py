"""Settings: one home (service.config), read once, the chain's defaults kept with their sources."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service import config
from service.api.app import create_app
from service.chain.parameters import ChainParameters
from service.config import AuthSettings, ChainSettings, LocalClusterSettings, SitingSettings, settings
from service.db import make_engine

# Building the application connects to nothing: these tests need no database.
NO_DATABASE = make_engine("postgresql://nobody@127.0.0.1:9/none")


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    config.forget_settings()
    yield
    config.forget_settings()


def test_settings_are_read_once_per_process(monkeypatch):
    monkeypatch.setenv("SANICHAIN_DEMO_DIR", "/first")
    assert str(settings(config.DemoSettings).data_dir) == "/first"
    monkeypatch.setenv("SANICHAIN_DEMO_DIR", "/second")
    assert str(settings(config.DemoSettings).data_dir) == "/first"
    assert settings(config.DatabaseSettings) is config.database_settings()


def test_chain_parameters_keep_their_cited_defaults(monkeypatch):
    for name in ChainSettings.model_fields:
        monkeypatch.delenv(f"SANICHAIN_{name.upper()}", raising=False)
    assert ChainParameters().model_dump() == {
        "waste_kg_per_person_day": 0.4,
        "excreta_kg_per_person_day": 1.55,
        "max_village_collection_m": 3000,
        "utilisation_warning": 0.9,
    }


def test_the_city_overrides_a_chain_parameter_and_a_caller_overrides_the_city(monkeypatch):
    monkeypatch.setenv("SANICHAIN_WASTE_KG_PER_PERSON_DAY", "0.8")
    monkeypatch.setenv("sanichain_utilisation_warning", "0.75")  # names are case-insensitive
    assert ChainParameters().waste_kg_per_person_day == 0.8
    assert ChainParameters().utilisation_warning == 0.75
    assert ChainParameters(waste_kg_per_person_day=0.5).waste_kg_per_person_day == 0.5


def test_an_absurd_city_value_is_refused_by_the_parameters_bounds(monkeypatch):
    monkeypatch.setenv("SANICHAIN_WASTE_KG_PER_PERSON_DAY", "6")
    with pytest.raises(ValidationError, match="waste_kg_per_person_day"):
        ChainParameters()


def test_every_chain_parameter_can_be_set_by_the_city():
    assert list(ChainSettings.model_fields) == list(ChainParameters.model_fields)


def test_siting_limits_are_the_ones_siting_was_built_with():
    from service.planning import siting

    ours, theirs = SitingSettings, siting.SitingSettings
    assert ours.model_config["env_prefix"] == theirs.model_config["env_prefix"] == "SANICHAIN_SITING_"
    assert ours.model_fields.keys() == theirs.model_fields.keys()
    for name, field in ours.model_fields.items():
        assert field.default == theirs.model_fields[name].default, name
        assert field.metadata == theirs.model_fields[name].metadata, name


def test_the_local_cluster_database_is_not_read_from_a_bare_database_variable(monkeypatch):
    monkeypatch.setenv("DATABASE", "somebody_elses")
    assert LocalClusterSettings().database == "sanichain"


def test_the_sign_in_settings_are_read_once_per_application(monkeypatch):
    monkeypatch.setenv("SANICHAIN_READ_POLICY", "signed-in")
    client = TestClient(create_app(NO_DATABASE))
    monkeypatch.setenv("SANICHAIN_READ_POLICY", "open")
    assert isinstance(client.app.state.auth_settings, AuthSettings)  # type: ignore[attr-defined]
    assert client.app.state.auth_settings.read_policy == "signed-in"  # type: ignore[attr-defined]


def test_an_unknown_read_policy_stops_the_start(monkeypatch):
    monkeypatch.setenv("SANICHAIN_READ_POLICY", "closed")
    with pytest.raises(ValueError, match="SANICHAIN_READ_POLICY"):
        create_app(NO_DATABASE)


def test_the_application_holds_the_siting_limits(monkeypatch):
    monkeypatch.setenv("SANICHAIN_SITING_MAX_PAIRS", "123")
    app = create_app(NO_DATABASE)
    assert isinstance(app.state.siting_settings, SitingSettings)
    assert app.state.siting_settings.max_pairs == 123

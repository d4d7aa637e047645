"""The stage API: stages are plain functions that return a StageResult; `doudian run`
calls them without the command line, each export read once per shop; the library never
imports click."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipeline.demo.generator import generate, split_by_shop
from pipeline.errors import UsageError
from pipeline.orchestrate import run as run_module
from pipeline.outcome import EXITS, STATUS_EXIT, StageResult
from pipeline.validation import checker as validate
from tests.test_run import write_config

REPO = Path(__file__).resolve().parent.parent
LIBRARY = (
    "pipeline.orchestrate.run",
    "pipeline.validation.staging",
    "pipeline.validation.checker",
    "pipeline.validation.report",
    "pipeline.outcome",
    "pipeline.stages.settle.job",
    "pipeline.stages.reconcile",
    "pipeline.stages.shipping.job",
    "pipeline.stages.price.job",
    "pipeline.stages.checks.alliance",
    "pipeline.stages.checks.deposit",
    "pipeline.stages.checks.reopen",
    "pipeline.demo.generator",
)


def test_the_library_does_not_import_click():
    code = f"import sys\nfor m in {LIBRARY!r}: __import__(m)\nprint('click' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


class NoProgress:
    def update(self, n: int) -> None:
        pass


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    generate(out, shops=2, orders=3000, seed=5)
    split_by_shop(out)
    return out


def test_run_reads_each_export_once_per_shop(exports, tmp_path, monkeypatch):
    opened: Counter[str] = Counter()
    real = validate.open_exports

    def counting(spec, path, **kw):
        opened[str(path)] += 1
        return real(spec, path, **kw)

    monkeypatch.setattr(validate, "open_exports", counting)
    config = run_module.load_config(write_config(tmp_path, exports))
    report = run_module.run(config, dt.date(2026, 11, 1), lambda *a, **k: None, NoProgress())
    ran = Counter(o.stage for o in report.outcomes if o.outcome in ("ok", "attention"))
    assert ran == Counter({s: 2 for s in run_module.STAGES})  # every stage ran, both shops
    files = [f for shop in config.shops for ps in shop.patterns.values() for f in ps]
    assert len(files) == 12
    assert opened == Counter({f: 1 for f in files})


def test_run_shop_is_a_plain_call(exports, tmp_path):
    config = run_module.load_config(write_config(tmp_path, exports))
    outcome = run_module.run_shop(config, config.shops[0], dt.date(2026, 11, 5))
    assert [(o.stage, o.outcome) for o in outcome.outcomes] == [
        ("validate", "ok"),
        ("settle", "not-due"),
        ("reconcile", "not-due"),
        ("profit", "not-due"),
        ("shipping-mode", "ok"),
        ("price", "attention"),
        ("check-tiered-shipping", "ok"),
        ("report", "not-due"),
    ]
    import pickle

    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_every_status_has_one_exit_code():
    assert STATUS_EXIT == {
        "ok": 0,
        "not-due": 0,
        "skipped": 0,
        "attention": 3,
        "failed": 1,
        "ineligible": 4,
    }
    assert sorted({code for code, _, _ in EXITS}) == [0, 1, 2, 3, 4, 75]
    assert StageResult("price", "attention").exit_code == 3
    with pytest.raises(ValueError):
        StageResult("price", "fine")


def test_library_errors_name_settings_as_the_caller_does(tmp_path):
    from pipeline.policy import load_policy

    with pytest.raises(UsageError) as caught:
        load_policy("no-such-policy")
    assert str(caught.value).startswith("policy no-such-policy: no such file")
    assert caught.value.render({"policy": "--policy"}).startswith("--policy no-such-policy:")
    config = tmp_path / "pipeline.toml"
    names = run_module.config_names(run_module.RunConfig(config, "", tmp_path, None, (), ()))
    assert caught.value.render(names).startswith("pipeline.toml: policy no-such-policy:")


def test_an_error_escaping_a_shop_fails_that_shop_only(exports, tmp_path, monkeypatch):
    real = run_module.run_shop

    def broken(config, shop, on, on_stage=lambda o: None):
        if shop.id == "1000001":
            raise OSError(28, "No space left on device")
        return real(config, shop, on, on_stage)

    monkeypatch.setattr(run_module, "run_shop", broken)
    config = run_module.load_config(write_config(tmp_path, exports))
    report = run_module.run(config, dt.date(2026, 11, 5), lambda *a, **k: None, NoProgress())
    first = {(o.stage, o.outcome, o.message) for o in report.outcomes if o.shop == "1000001"}
    assert first == {
        (s, "failed", "internal error (OSError: [Errno 28] No space left on device)")
        for s in run_module.STAGES
    }
    assert {o.outcome for o in report.outcomes if o.shop == "1000002"} <= {
        "ok",
        "attention",
        "not-due",
    }
    assert report.exit_code == 1

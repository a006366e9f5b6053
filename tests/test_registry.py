"""The one registry helper: names, lazy loading, and the one 'unknown X' message."""
import subprocess
import sys
import textwrap

import pytest

from neural_body_fitting import registries
from neural_body_fitting.utils import registry


def test_get_loads_a_string_entry_once_and_register_adds_entries():
    table = registry.Registry("thing", {"join": "os.path:join", "path": "os.path"})
    import os.path

    assert table.get("join") is os.path.join and table.get("path") is os.path
    assert table.names() == ("join", "path") and "join" in table and list(table) == ["join", "path"]

    @table.register("twice")
    def twice(x):
        return 2 * x

    assert table.get("twice")(4) == 8
    with pytest.raises(ValueError, match="thing 'twice' is registered already"):
        table.register("twice", len)


@pytest.mark.parametrize("name,guess", [
    ("resnet_v1_5", "resnet_v1_50"),   # A substring of a known name.
    ("VGG_16", "vgg_16"),              # Case.
    ("resnet_v1_51", "resnet_v1_50"),  # Edit distance.
])
def test_an_unknown_name_names_where_and_the_best_guess_and_lists_the_known(name, guess):
    with pytest.raises(registry.UnknownNameError) as caught:
        registries.ENCODERS.get(name, "config.model.fitting.encoder")
    message = str(caught.value)
    assert message.startswith(f"config.model.fitting.encoder: unknown encoder '{name}'; "
                              f"did you mean '{guess}'? Known: resnet_v1_50, ")
    assert isinstance(caught.value, ValueError)


def test_a_name_with_no_close_match_still_lists_the_known():
    with pytest.raises(ValueError, match=r"^stage: unknown stage 'zzz'\. Known: fitting, "
                                         r"segmentation\.$"):
        registries.TASKS.check("zzz")


def test_synonyms_rank_before_edit_distance():
    table = registry.Registry("key", dict.fromkeys(("lr", "weight_decay"), True),
                              synonyms={"learning_rate": "lr"})
    with pytest.raises(ValueError, match="did you mean 'lr'"):
        table.check("learning_rate")


def test_every_entry_of_every_registry_loads():
    for table in (registries.ENCODERS, registries.SEGMENTERS, registries.TASKS,
                  registries.EXPERIMENTS, registries.LOSS_KINDS, registries.LOSS_TERMS):
        for name in table:
            assert table.get(name) is not None, (table.kind, name)


def test_checking_names_imports_no_implementation():
    script = textwrap.dedent("""
        import sys
        from neural_body_fitting import registries
        for table in (registries.ENCODERS, registries.SEGMENTERS, registries.TASKS,
                      registries.LOSS_KINDS):
            for name in table:
                table.check(name)
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

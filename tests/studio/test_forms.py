"""studio.forms: the Train tab's number inputs take their limits from the config metadata."""

from __future__ import annotations

import gradio as gr

from core import bounds
from core import config as config_mod
from studio import forms


def test_every_number_input_has_the_metadata_maximum():
    specs = config_mod.field_specs()
    numbers = [
        (path, forms.component_for(path, specs[path].default))
        for path in forms.FORM_PATHS
        if path in specs and path != forms.CHECKPOINT_WORDS
    ]
    numbers = [(path, c) for path, c in numbers if isinstance(c, gr.Number)]
    assert numbers, "the form has number inputs"
    for path, component in numbers:
        assert component.maximum == specs[path].metadata["max"] is not None, path
    batch = forms.component_for("training.batch_size", 32)
    assert (batch.minimum, batch.maximum) == (1, bounds.MAX_BATCH)

"""BabyLlama Studio's Gradio UI: tabs over core's public functions; no engine logic lives here."""

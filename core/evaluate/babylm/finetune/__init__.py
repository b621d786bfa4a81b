"""BabyLM fine-tuning (`--suite glue`): the 2025 pipeline's recipe for boolq, multirc, rte, wsc,
mrpc, qqp and mnli. `tasks` reads the data, `recipe` holds the hyper-parameters, `head` the
classifier, `train` the loop, `metrics` the scores, `outputs` the files, `suite` plans and runs.
Never imports gradio or studio.
"""

"""`babyllama recipe`: published training recipes chained as ordinary background jobs.

`babyllama2023.py` holds one recipe's steps as data, `chain.py` plans, runs and resumes them.
Must not import gradio, studio or torch at import time.
"""

"""`babyllama doctor`: is this machine ready (`machine`: Python, packages, device, memory, disk,
SQLite), and does training work on its GPU (`gpu_training` runs the checks of
`gpu_training_checks` under a time budget)? Nothing here imports gradio or studio.
"""

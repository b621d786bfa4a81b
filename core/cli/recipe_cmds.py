"""`babyllama recipe babyllama-2023 --data DIR`: the published BabyLlama chain (teachers, distilled
student, BabyLM suite on all three, comparison table) as one background `recipe` job (core.recipe).
`--status` prints each step's state. Imports core lazily so `--help` stays fast; never imports gradio.
"""

from __future__ import annotations

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser(
        "recipe",
        help="run a published recipe as chained background jobs (babyllama-2023: two teachers, "
        "the distilled 58M student, the BabyLM suite on all three, a comparison table)",
        description="Each step is an ordinary job named <chain>-<step>. Running the same command again skips "
        "finished steps, waits for running ones and restarts from a failed one (a training run "
        "resumes from its newest checkpoint).",
    )
    p.add_argument("recipe", choices=("babyllama-2023",), help="the recipe (docs/reproduce.md)")
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="the BabyLM 10M training folder of text (e.g. babylm_10M_clean/ of *.train), or a corpus name",
    )
    p.add_argument(
        "--babylm-data",
        default="",
        metavar="DIR",
        help="the official evaluation_data/ folder (or its full_eval/, fast_eval/, one task folder); "
        "default: <workspace>/evaluation_data/",
    )
    p.add_argument(
        "--tokenizer",
        default="",
        metavar="NAME",
        help="an existing tokenizer (name or folder); default: the chain trains a BPE on --data "
        "(16000 tokens; 1000 at --scale tiny)",
    )
    p.add_argument(
        "--scale",
        choices=("published", "tiny"),
        default="published",
        help="tiny: every model the `tiny` preset for a few steps (tests, laptops; recorded as NOT the published recipe)",
    )
    p.add_argument(
        "--name",
        default="",
        metavar="CHAIN",
        help="prefix of every job and run of the chain (default babyllama-2023, or babyllama-2023-tiny)",
    )
    p.add_argument("--status", action="store_true", help="print each step's state and return; starts nothing")
    p.add_argument("--detach", action="store_true", help="start the chain in the background, print its job name, return")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_recipe)


def _cmd_recipe(args) -> int:
    from core.cli.train_cmds import follow
    from core.history import open_history
    from core.recipe import chain

    ws = Workspace.resolve(args.workspace).ensure()
    opts = chain.RecipeOptions(
        data=chain.path_or_name(args.data),
        babylm_data=chain.path_or_name(args.babylm_data),
        tokenizer=chain.path_or_name(args.tokenizer),
        scale=args.scale,
        name=args.name,
    )
    with open_history(ws) as history:
        print(chain.format_status(chain.status(opts, ws, history)), flush=True)
        if args.status:
            return 0
        job = chain.start(opts, ws, history, command=chain.command(opts, ws))
        print(f"recipe job {job.name} started ({job.run_dir})", flush=True)
        if args.detach:
            print(job.name)
            return 0
        return follow(history, job.name)

"""Chat tab: one prompt, the same sampling settings and seed, streamed into 1-4 model panes side by side.

Completion by small base models is the default (the prompt is text to continue, no template);
chat mode prepends earlier turns as plain "User:/Assistant:" text. Sampling lives in core.generate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import gradio as gr

from core import generate as gen
from core.errors import UserError
from studio.context import StudioContext
from studio.shared import model_choices, refresh_on_open, with_params

MAX_PANES = 4
CHAT_STOP = "\nUser:"  # a base model in chat mode goes on to write the user's next turn: cut there
_ENDINGS = {"eos": "ended with end-of-text", "stop": "ended at the next 'User:' turn"}
PLACEHOLDER = "Pick one or more models above, type a prompt below and press **Send**."
_DEFAULTS = gen.SamplingParams()
_HELP = {f.name: f.metadata["help"] for f in fields(gen.SamplingParams)}


class ChatComponents(NamedTuple):
    models: gr.Dropdown
    refresh: gr.Button
    panes: list  # MAX_PANES gr.Chatbot, unused ones hidden
    pane_models: gr.State  # which model each shown pane holds the conversation of
    prompt: gr.Textbox
    chat_mode: gr.Checkbox
    sampling: list  # temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed
    send: gr.Button
    stop: gr.Button
    clear: gr.Button
    status: gr.Markdown


@dataclass(frozen=True)
class PromptRow:
    """The prompt box, its buttons, the chat-mode switch and the status line under them."""

    prompt: gr.Textbox
    chat_mode: gr.Checkbox
    send: gr.Button
    stop: gr.Button
    clear: gr.Button
    status: gr.Markdown


# --------------------------------------------------------------------------- handlers
def refresh_models(ctx: StudioContext, selected: list[str] | None = None) -> dict:
    """New choices for the model picker, keeping the selected models that are still there."""
    choices = model_choices(ctx)
    return gr.update(choices=choices, value=[m for m in (selected or []) if m in choices])


def load_models(ctx: StudioContext) -> dict:
    """On page load: the current choices, with the newest run selected."""
    choices = model_choices(ctx)
    return gr.update(choices=choices, value=choices[:1])


def select_models(
    ctx: StudioContext, selected: list[str] | None, pane_models: list[str] | None, *histories, c: ChatComponents
) -> dict:
    """Show one labelled pane per selected model (at most 4); a pane keeps its conversation only
    while it shows the same model. Answers every pane's update and the new pane -> model list."""
    selected = list(selected or [])[:MAX_PANES]
    pane_models = list(pane_models or [])
    updates = []
    for i in range(MAX_PANES):
        if i >= len(selected):
            # Pane 1 stays as an empty placeholder so the page never looks blank.
            updates.append(gr.update(visible=i == 0, label="Model", value=[]))
            continue
        same = i < len(pane_models) and pane_models[i] == selected[i]
        updates.append(gr.update(visible=True, label=selected[i], value=histories[i] if same else []))
    return {**dict(zip(c.panes, updates)), c.pane_models: selected}


def clear_panes(ctx: StudioContext, c: ChatComponents) -> dict:
    """Empty every pane and the status line."""
    return _answer(c, [[] for _ in c.panes], "")


def _answer(c: ChatComponents, panes: list, status: str) -> dict:
    """Every pane's conversation and the status line, keyed by component."""
    return {**dict(zip(c.panes, panes)), c.status: status}


def chat_prompt(history: list[dict], prompt: str) -> str:
    """Earlier turns as plain text, then the new one, ending where the model should answer."""
    lines = []
    for message in history:
        speaker = "User" if message["role"] == "user" else "Assistant"
        lines.append(f"{speaker}: {_text(message['content']).strip()}")
    lines += [f"User: {prompt.strip()}", "Assistant:"]
    return "\n".join(lines)


def send(
    ctx: StudioContext,
    selected: list[str] | None,
    prompt: str,
    chat_mode: bool,
    temperature: float,
    top_k: float,
    top_p: float,
    max_new_tokens: float,
    repetition_penalty: float,
    seed: float,
    *histories,
    c: ChatComponents,
) -> Iterator[dict]:
    """Stream answers to the same prompt, settings and seed into every selected model's pane.

    Yields every pane's conversation and the status markdown (`_answer`) after each token round;
    the models take turns token by token so all panes grow together. Problems are shown, never raised.
    """
    panes = [_messages(h) for h in histories] + [[] for _ in range(MAX_PANES - len(histories))]
    selected, prompt = list(selected or [])[:MAX_PANES], prompt or ""
    try:
        if not selected:
            raise UserError("Models: pick at least one model to talk to (press Refresh if a new run is missing)")
        if chat_mode and not prompt.strip():
            raise UserError("Prompt: type a message (chat mode needs one; completion mode may start from nothing)")
        params = gen.SamplingParams(
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            repetition_penalty=repetition_penalty,
            seed=seed,
            stop=(CHAT_STOP,) if chat_mode else (),
        )
    except UserError as err:
        yield _answer(c, panes, _warn(err))
        return
    streams, problems = _start_streams(ctx, selected, prompt, chat_mode, params, panes)
    finals: dict[int, gen.GenerationResult] = {}
    yield _answer(c, panes, _status(selected, finals, problems, running=bool(streams)))
    while streams:
        for i, stream in list(streams.items()):
            try:
                result = next(stream, None)
            except (UserError, RuntimeError) as err:  # a bad prompt; out of memory on a GPU
                result, problems[i] = None, f"generation failed: {err}"
            if result is None:
                del streams[i]
                continue
            finals[i] = result
            text = gen.shown_text(result.text)  # a young model's U+FFFD / control codes are not shown
            panes[i][-1] = {"role": "assistant", "content": text.strip() if chat_mode else text}
        yield _answer(c, panes, _status(selected, finals, problems, running=bool(streams)))


def _start_streams(
    ctx: StudioContext, selected: list[str], prompt: str, chat_mode: bool, params: gen.SamplingParams, panes: list[list[dict]]
) -> tuple[dict, dict]:
    """Load each model (per request: nothing is cached), open its token stream and append the
    new turn to its pane; returns the streams and the load problems, by pane index."""
    with ctx.history() as h:
        run_dirs = {name: getattr(h.get_run(name), "run_dir", None) for name in selected}
    streams, problems = {}, {}
    for i, name in enumerate(selected):
        try:
            if not run_dirs[name]:
                raise UserError(f"no run {name!r} in the history any more: press Refresh")
            model, tokenizer = gen.load_model(Path(run_dirs[name]), ctx.workspace)
        except UserError as err:
            problems[i] = f"could not load: {err}"
            continue
        text = chat_prompt(panes[i], prompt) if chat_mode else prompt
        streams[i] = gen.stream_results(model, tokenizer, text, params)
        panes[i] = panes[i] + [
            {"role": "user", "content": prompt or "(empty prompt: free generation)"},
            {"role": "assistant", "content": ""},
        ]
    return streams, problems


def _status(selected: list[str], finals: dict, problems: dict, *, running: bool) -> str:
    lines = []
    for i, name in enumerate(selected):
        if i in problems:
            lines.append(f"- **{name}**: {problems[i]}")
        elif i in finals:
            r = finals[i]
            notes = [_ENDINGS.get(r.stop_reason, "")] if not running else []
            notes = "; ".join(n for n in notes + r.notes if n)
            lines.append(
                f"- **{name}**: {r.n_new_tokens} tokens, {r.tokens_per_s:.0f} tokens/s, "
                f"prompt {r.n_prompt_tokens} tokens" + (f" ({notes})" if notes else "")
            )
    head = "Generating..." if running else "Done."
    if len(selected) > 1:
        head += " The models take turns token by token, so tokens/s is shared between the panes."
    return "\n".join([head, *lines])


def _warn(err: Exception) -> str:
    gr.Warning(str(err))
    return f"**Problem:** {err}"


def _text(content: Any) -> str:
    """Gradio 6 hands message content back as a list of parts; we write plain strings."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, (list, tuple)):
        return "".join(_text(part) for part in content)
    return "" if content is None else str(content)


def _messages(history: list | None) -> list[dict]:
    return [
        {"role": m["role"], "content": _text(m.get("content"))}
        for m in (history or [])
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
    ]


# --------------------------------------------------------------------------- layout
def build(ctx: StudioContext) -> ChatComponents:
    """The Chat tab; call inside `with gr.Tab("Chat"):`."""
    choices = model_choices(ctx)
    with gr.Row():
        models = gr.Dropdown(
            choices=choices,
            value=choices[:1],
            multiselect=True,
            max_choices=MAX_PANES,
            allow_custom_value=True,  # a script names runs finished after this page was built
            label="Models (1-4, side by side)",
            elem_id="chat-models",
            scale=5,
            info="Finished or stopped runs with a model or checkpoint; each gets its own pane.",
        )
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100, elem_id="chat-refresh")
    pane_models = gr.State(choices[:1])
    with gr.Row():
        panes = [
            gr.Chatbot(
                label=choices[0] if i == 0 and choices else "Model",
                visible=i == 0,
                height=380,
                placeholder=PLACEHOLDER,
                elem_id=f"chat-pane-{i + 1}",
                feedback_options=None,
                buttons=["copy"],
                render_markdown=False,
                min_width=240,
            )
            for i in range(MAX_PANES)
        ]
    p = _build_prompt()
    sampling = _build_sampling()
    c = ChatComponents(models, refresh, panes, pane_models, p.prompt, p.chat_mode, sampling, p.send, p.stop, p.clear, p.status)

    refresh.click(functools.partial(refresh_models, ctx), inputs=models, outputs=models, api_name="list_models")
    # Runs finish while the page is open: fetch the list again on every page load too.
    gr.on(
        triggers=None,
        fn=functools.partial(load_models, ctx),
        inputs=[],
        outputs=models,
        show_progress="hidden",
        api_visibility="private",
    )
    models.change(
        functools.partial(select_models, ctx, c=c),
        inputs=[models, pane_models, *panes],
        outputs=[*panes, pane_models],
        show_progress="hidden",
        api_visibility="private",
    )
    inputs = [models, p.prompt, p.chat_mode, *sampling, *panes]
    names = [
        "models",
        "prompt",
        "chat_mode",
        "temperature",
        "top_k",
        "top_p",
        "max_new_tokens",
        "repetition_penalty",
        "seed",
        *(f"pane_{i + 1}" for i in range(MAX_PANES)),
    ]  # gradio_client keywords
    events = [
        gr.on(
            [p.send.click, p.prompt.submit],
            with_params(functools.partial(send, ctx, c=c), names),
            inputs=inputs,
            outputs=[*panes, p.status],
            api_name="chat",
        )
    ]
    p.stop.click(None, cancels=events)
    p.clear.click(functools.partial(clear_panes, ctx, c=c), outputs=[*panes, p.status], cancels=events, api_visibility="private")
    return c


def _build_prompt() -> PromptRow:
    prompt = gr.Textbox(label="Prompt", lines=3, elem_id="chat-prompt", placeholder="Once upon a time, ...  (Shift+Enter sends)")
    with gr.Row(equal_height=True):
        send_btn = gr.Button("Send", variant="primary", elem_id="chat-send")
        stop_btn = gr.Button("Stop", elem_id="chat-stop")
        clear_btn = gr.Button("Clear", elem_id="chat-clear")
        chat_mode = gr.Checkbox(
            False, label="Chat mode: prepend earlier turns as 'User: / Assistant:' text", elem_id="chat-mode", scale=2
        )
    status = gr.Markdown(elem_id="chat-status")
    return PromptRow(prompt, chat_mode, send_btn, stop_btn, clear_btn, status)


def _build_sampling() -> list:
    d = _DEFAULTS
    with gr.Accordion("Sampling settings (shared by every pane)", open=True):
        with gr.Row():
            temperature = gr.Slider(
                0.0,
                2.0,
                value=d.temperature,
                step=0.05,
                label="Temperature",
                info=_HELP["temperature"],
                elem_id="chat-temperature",
            )
            top_k = gr.Number(d.top_k, precision=0, minimum=0, label="Top-k", info=_HELP["top_k"], elem_id="chat-top-k")
            top_p = gr.Slider(0.05, 1.0, value=d.top_p, step=0.01, label="Top-p", info=_HELP["top_p"], elem_id="chat-top-p")
        with gr.Row():
            max_new = gr.Slider(
                1,
                512,
                value=d.max_new_tokens,
                step=1,
                label="Max new tokens",
                info=_HELP["max_new_tokens"],
                elem_id="chat-max-new-tokens",
            )
            penalty = gr.Slider(
                1.0,
                2.0,
                value=d.repetition_penalty,
                step=0.05,
                label="Repetition penalty",
                info=_HELP["repetition_penalty"],
                elem_id="chat-repetition-penalty",
            )
            seed = gr.Number(d.seed, precision=0, minimum=0, label="Seed", info=_HELP["seed"], elem_id="chat-seed")
    return [temperature, top_k, top_p, max_new, penalty, seed]


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: ChatComponents, tab: gr.Tab | None = None) -> None:
    """Opening the tab refreshes the model picker (a run may have finished meanwhile); the page
    load's own handler picks the newest model."""
    refresh_on_open(demo, tab, functools.partial(refresh_models, ctx), c.models, c.models, on_load=False)

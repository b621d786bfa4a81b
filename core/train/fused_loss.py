"""A causal-LM loss that never holds the full logits: the output layer and cross-entropy run
chunk by chunk, and their gradients are computed in the same pass.

`model(input_ids, labels=...)` builds logits of batch x seq x vocab floats (262 MB for 32 x 128 x
16k), a log-softmax of the same size for backward, and then two more for the gradients. Here one
chunk of rows at a time goes hidden -> logits -> softmax -> gradient, in place, and only the
gradients of the hidden states and the output weight are kept (Liger-Kernel's "fused linear
cross-entropy", in plain torch). Must not import gradio or transformers.
"""

from __future__ import annotations

import torch

from core.model.build import LOSS_CHUNK_ROWS as CHUNK_ROWS  # rows of logits at a time

IGNORE_INDEX = -100  # label value that does not count, as in transformers


class _LinearCrossEntropy(torch.autograd.Function):
    """mean cross-entropy of (hidden @ weight.T + bias) against targets, chunk by chunk.

    fp32 and bf16: the gradients are computed during forward (the loss is a scalar at the end of
    the graph), and backward only multiplies them by the incoming gradient. fp16: the gradient of
    the logits, (softmax - one_hot) / count, is about 1.5e-8 per entry at vocab 16k and 4k tokens,
    below fp16's smallest subnormal (6e-8): cast before the GradScaler's factor it would be 0. So
    under fp16 forward keeps only each row's log-sum-exp, and backward recomputes the logits and
    folds the incoming gradient (which carries the loss scale) in while still in fp32, as
    transformers' own loss does. That costs one more output-layer matmul, in fp16 only."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows, need_grad):
        # Under autocast (fp16/bf16 on a GPU) the matmuls run in the autocast dtype, as the
        # model's own lm_head would; softmax and the loss stay in fp32. Autocast itself is
        # switched off in here because it does not support the `out=` matmuls below.
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        valid = targets != IGNORE_INDEX
        count = max(int(valid.sum()), 1)
        ctx.dtype, ctx.count, ctx.chunk_rows = dtype, count, chunk_rows
        ctx.deferred = need_grad and dtype == torch.float16
        eager_grad = need_grad and not ctx.deferred
        with torch.autocast(device, enabled=False):
            total, lse, grads = _forward_chunks(hidden, weight, bias, targets, valid, count, dtype, chunk_rows, eager_grad)
        if ctx.deferred:
            ctx.save_for_backward(hidden, weight, bias, targets, lse)
        else:
            ctx.save_for_backward(*grads)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        if ctx.deferred:
            hidden, weight, bias, targets, lse = ctx.saved_tensors
            with torch.autocast(hidden.device.type, enabled=False):
                grads = _deferred_grads(hidden, weight, bias, targets, lse, grad_loss.float(), ctx)
            return (*grads, None, None, None)
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = None if grad_loss.numel() == 1 and float(grad_loss) == 1.0 else grad_loss  # the usual case: no pass
        grads = [g if g is None or scale is None else g * scale for g in (grad_hidden, grad_weight, grad_bias)]
        return grads[0], grads[1], grads[2], None, None, None


def _cast(weight, bias, dtype):
    return weight.to(dtype), None if bias is None else bias.to(dtype)


def _logits(h, w, b):
    return (h @ w.t() if b is None else torch.addmm(b, h, w.t())).float()


def _new_grads(hidden, weight, bias):
    return (torch.empty_like(hidden), torch.zeros_like(weight), None if bias is None else torch.zeros_like(bias))


def _accumulate(grads, grad, h, w, start: int, same: bool) -> None:
    """Add one chunk's logits gradient `grad` (in the matmul dtype) into the parameter gradients."""
    grad_hidden, grad_weight, grad_bias = grads
    if same:  # all in one dtype (fp32): write straight into the gradient buffers
        torch.mm(grad, w, out=grad_hidden[start : start + len(grad)])
        grad_weight.addmm_(grad.t(), h)
    else:
        grad_hidden[start : start + len(grad)] = grad @ w
        grad_weight += (grad.t() @ h).to(grad_weight.dtype)
    if grad_bias is not None:
        grad_bias += grad.sum(0).to(grad_bias.dtype)


def _forward_chunks(hidden, weight, bias, targets, valid, count, dtype, chunk_rows, need_grad):
    """(summed loss, per-row log-sum-exp, gradients or Nones); gradients only when `need_grad`."""
    w, b = _cast(weight, bias, dtype)
    same = dtype == hidden.dtype == weight.dtype
    grads = _new_grads(hidden, weight, bias) if need_grad else (None, None, None)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    lse = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    hidden_cast = hidden.to(dtype)
    for start in range(0, hidden.shape[0], chunk_rows):
        h, t, ok = (x[start : start + chunk_rows] for x in (hidden_cast, targets, valid))
        logits = _logits(h, w, b)
        rows = torch.arange(len(t), device=t.device)
        safe = t.clamp(min=0)  # ignored rows point at token 0; their weight below is 0
        target_logit = logits[rows, safe]
        # One exp pass over the chunk, in place: logits -> exp(logits - max) -> gradient.
        top = logits.amax(dim=1, keepdim=True)
        exp = logits.sub_(top).exp_()
        sums = exp.sum(dim=1, keepdim=True)
        lse[start : start + len(t)] = (top + sums.log()).squeeze(1)
        total += ((lse[start : start + len(t)] - target_logit) * ok).sum()
        if not need_grad:
            continue
        # d(mean loss)/d(logits) = (softmax - one_hot(target)) / count, zero on ignored rows.
        weight_rows = ok.to(sums.dtype) / count
        grad = exp.mul_(weight_rows.unsqueeze(1) / sums)
        grad[rows, safe] -= weight_rows
        _accumulate(grads, grad.to(dtype), h, w, start, same)
    return total, lse, grads


def _deferred_grads(hidden, weight, bias, targets, lse, grad_loss, ctx):
    """The fp16 backward: logits recomputed chunk by chunk, the incoming gradient (the loss scale
    included) applied in fp32, and only then the cast to fp16 for the matmuls."""
    w, b = _cast(weight, bias, ctx.dtype)
    same = ctx.dtype == hidden.dtype == weight.dtype
    grads = _new_grads(hidden, weight, bias)
    hidden_cast = hidden.to(ctx.dtype)
    for start in range(0, hidden.shape[0], ctx.chunk_rows):
        stop = start + ctx.chunk_rows
        h, t = hidden_cast[start:stop], targets[start:stop]
        rows = torch.arange(len(t), device=t.device)
        weight_rows = (t != IGNORE_INDEX).float() * (grad_loss / ctx.count)
        grad = _logits(h, w, b).sub_(lse[start:stop].unsqueeze(1)).exp_().mul_(weight_rows.unsqueeze(1))
        grad[rows, t.clamp(min=0)] -= weight_rows
        _accumulate(grads, grad.to(ctx.dtype), h, w, start, same)
    return grads


def linear_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor, chunk_rows: int = CHUNK_ROWS
) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T (+ bias)` [rows, vocab] against `targets` [rows];
    targets equal to IGNORE_INDEX do not count. Matches F.cross_entropy on the full logits.
    Gradients are computed only when autograd will want them (not under torch.no_grad)."""
    need_grad = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (hidden, weight, bias))
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_rows, need_grad)


def last_hidden_state(model, input_ids: torch.Tensor) -> torch.Tensor:
    """The transformer body's output (batch x seq x hidden), before the output layer."""
    return model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state


def compiled(fn):
    """`fn(model, input_ids)` compiled with torch.compile: the body's many small elementwise ops
    (norms, rotary embeddings, SiLU, residual adds) fused into few kernels, on CPU (needs a C++
    compiler) as on CUDA. The model is an argument, so it stays a plain module: its state_dict
    keys, evaluation and generation are untouched. (Bit-exact resume on CPU also needs the
    deterministic flag the loop sets: core.train.machine.ordered_cpu_kernels.)

    dynamic=False: training batches have one shape, and dynamo's "this dimension changed, go
    dynamic" memory is kept per function, so an earlier run in the same process with another
    batch shape would otherwise give this run symbolic-shape kernels that a fresh process
    resuming it would not compile."""
    return torch.compile(fn, dynamic=False)


def causal_lm_loss(
    model, input_ids: torch.Tensor, labels: torch.Tensor | None = None, chunk_rows: int = CHUNK_ROWS, body=last_hidden_state
) -> torch.Tensor:
    """The same value as `model(input_ids=input_ids, labels=labels).loss` for a transformers causal
    LM (Llama, GPT-2, GPT-J), without materialising the logits. `body(model, input_ids)` gives
    the hidden states (`last_hidden_state`, or its `compiled` version).

    `model` must be the plain model: under DDP, call this through a module that DDP wraps
    (`FusedLossModel`), or the gradient all-reduce is skipped.
    """
    labels = input_ids if labels is None else labels
    hidden = body(model, input_ids)
    head = model.get_output_embeddings()
    # Position i predicts token i+1: drop the last position's hidden state and the first label.
    h = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    return linear_cross_entropy(h, head.weight, head.bias, labels[:, 1:].reshape(-1), chunk_rows)


class FusedLossModel(torch.nn.Module):
    """Wraps a causal LM so `forward(input_ids)` returns the fused loss; prepare this wrapper with
    accelerate (DDP then sees the forward) and save `wrapper.lm`."""

    def __init__(self, lm, chunk_rows: int = CHUNK_ROWS):
        super().__init__()
        self.lm, self.chunk_rows = lm, chunk_rows
        self._body = last_hidden_state

    def compile_body(self) -> None:
        """Run the transformer body compiled in training steps (training.torch_compile). The
        chunked output layer + loss stays eager: it is matmuls already, and its data-dependent
        row count would break the graph."""
        self._body = compiled(last_hidden_state)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return causal_lm_loss(self.lm, input_ids, labels, self.chunk_rows, self._body)

    def window_metrics(self, reduce) -> dict[str, float]:
        """Extra metrics of the objective for the log (none: the loss is all there is)."""
        return {}

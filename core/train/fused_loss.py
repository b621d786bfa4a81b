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

from core.models import LOSS_CHUNK_ROWS as CHUNK_ROWS  # rows of logits at a time

IGNORE_INDEX = -100     # label value that does not count, as in transformers


class _LinearCrossEntropy(torch.autograd.Function):
    """mean cross-entropy of (hidden @ weight.T + bias) against targets, with chunked forward and
    the backward computed during forward (the loss is a scalar at the end of the graph)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows, need_grad):
        # Under autocast (fp16/bf16 on a GPU) the matmuls run in the autocast dtype, as the
        # model's own lm_head would; softmax and the loss stay in fp32. Autocast itself is
        # switched off in here because it does not support the `out=` matmuls below.
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        w = weight.to(dtype)
        b = None if bias is None else bias.to(dtype)
        same = dtype == hidden.dtype == weight.dtype
        valid = targets != IGNORE_INDEX
        count = max(int(valid.sum()), 1)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        grad_weight = torch.zeros_like(weight) if need_grad else None
        grad_bias = torch.zeros_like(bias) if need_grad and bias is not None else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        hidden_cast = hidden.to(dtype)
        with torch.autocast(device, enabled=False):
            for start in range(0, hidden.shape[0], chunk_rows):
                h, t, ok = (x[start:start + chunk_rows] for x in (hidden_cast, targets, valid))
                logits = (h @ w.t() if b is None else torch.addmm(b, h, w.t())).float()
                rows = torch.arange(len(t), device=t.device)
                safe = t.clamp(min=0)  # ignored rows point at token 0; their weight below is 0
                target_logit = logits[rows, safe]
                # One exp pass over the chunk, in place: logits -> exp(logits - max) -> gradient.
                top = logits.amax(dim=1, keepdim=True)
                exp = logits.sub_(top).exp_()
                sums = exp.sum(dim=1, keepdim=True)
                total += (((top + sums.log()).squeeze(1) - target_logit) * ok).sum()
                if not need_grad:
                    continue
                # d(mean loss)/d(logits) = (softmax - one_hot(target)) / count, zero on ignored rows.
                weight_rows = ok.to(sums.dtype) / count
                grad = exp.mul_(weight_rows.unsqueeze(1) / sums)
                grad[rows, safe] -= weight_rows
                grad = grad.to(dtype)
                if same:  # the fp32 path: write straight into the gradient buffers
                    torch.mm(grad, w, out=grad_hidden[start:start + chunk_rows])
                    grad_weight.addmm_(grad.t(), h)
                else:
                    grad_hidden[start:start + chunk_rows] = grad @ w
                    grad_weight += (grad.t() @ h).to(grad_weight.dtype)
                if grad_bias is not None:
                    grad_bias += grad.sum(0).to(grad_bias.dtype)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = None if grad_loss.numel() == 1 and float(grad_loss) == 1.0 else grad_loss  # the usual case: no pass
        grads = [g if g is None or scale is None else g * scale for g in (grad_hidden, grad_weight, grad_bias)]
        return grads[0], grads[1], grads[2], None, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T (+ bias)` [rows, vocab] against `targets` [rows];
    targets equal to IGNORE_INDEX do not count. Matches F.cross_entropy on the full logits.
    Gradients are computed only when autograd will want them (not under torch.no_grad)."""
    need_grad = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (hidden, weight, bias))
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_rows, need_grad)


def last_hidden_state(model, input_ids: torch.Tensor) -> torch.Tensor:
    """The transformer body's output (batch x seq x hidden), before the output layer."""
    return model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state


def compiled(fn):
    """`fn(model, input_ids)` compiled with torch.compile: the body's many small elementwise ops
    (norms, rotary embeddings, SiLU, residual adds) fused into few kernels, on CPU (needs a C++
    compiler) as on CUDA. The model is an argument, so it stays a plain module: its state_dict
    keys, evaluation and generation are untouched. (Bit-exact resume on CPU also needs the
    deterministic flag the loop sets: core.train.loop._ordered_cpu_kernels.)

    dynamic=False: training batches have one shape, and dynamo's "this dimension changed, go
    dynamic" memory is kept per function, so an earlier run in the same process with another
    batch shape would otherwise give this run symbolic-shape kernels that a fresh process
    resuming it would not compile."""
    return torch.compile(fn, dynamic=False)


def causal_lm_loss(model, input_ids: torch.Tensor, labels: torch.Tensor | None = None,
                   chunk_rows: int = CHUNK_ROWS, body=last_hidden_state) -> torch.Tensor:
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

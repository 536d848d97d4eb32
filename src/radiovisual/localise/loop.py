"""Epoch bookkeeping shared by the localiser (``train.py``) and the detector (``detect_train.py``).

Both train with AdamW + one-cycle LR, keep the weights of the best held-out loss, checkpoint every epoch
(resumable after a crash, only from a checkpoint of the same stage key) and stop early only once the one-cycle
LR has come down (the high-LR phase is noisy). ``EpochLoop`` holds that state; the callers keep their own
training step and held-out loss.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import torch

from ..errors import RadiovisualError
from ..utils.io import load_checkpoint, save_checkpoint


class EpochLoop:
    """``for ep in loop.epochs(progress, desc): ...; if loop.end(ep, holdout_loss, entry): break``, then
    ``loop.best_state_dict()`` and ``loop.state`` (epoch, best, best_epoch, bad, history)."""

    def __init__(self, ckpt: Path, key: str, model: torch.nn.Module, opt: Any, sched: Any, epochs: int,
                 patience: int):
        self.ckpt, self.key, self.model, self.opt, self.sched = Path(ckpt), key, model, opt, sched
        self.n_epochs, self.patience = int(epochs), int(patience)
        self.state: dict[str, Any] = {"epoch": 0, "best": float("inf"), "best_epoch": -1, "bad": 0, "history": []}
        self.best_sd: dict[str, torch.Tensor] | None = None
        self._bar: Any = None
        if self.ckpt.is_file():  # resume after a crash (only a checkpoint of this very stage key)
            try:
                c = load_checkpoint(self.ckpt)
                if c.get("key") == key:
                    model.load_state_dict(c["model"])
                    opt.load_state_dict(c["opt"])
                    sched.load_state_dict(c["sched"])
                    self.best_sd, self.state = c["best_model"], json.loads(c["state"])
            except RadiovisualError:
                pass

    def epochs(self, progress: bool, desc: str, until: int | None = None) -> Iterable[int]:
        """The epochs still to run, up to ``until`` (default: all); none after an early stop (also one
        recorded in a checkpoint: a run that stopped and crashed before its stage finished stays stopped)."""
        end = min(self.n_epochs, self.n_epochs if until is None else int(until))
        eps: Iterable[int] = range(self.state["epoch"], end if not self.state.get("stopped") else 0)
        if progress:
            from ..utils.progress import tqdm

            eps = self._bar = tqdm(eps, desc=desc, leave=False, initial=self.state["epoch"], total=end)
        return eps

    def end(self, ep: int, holdout_loss: float, entry: dict[str, Any]) -> bool:
        """Record epoch ``ep`` (``entry`` goes to the history; its "train_loss" to the progress bar), keep the
        best weights, checkpoint; True when training should stop."""
        self.state["history"].append(entry)
        if holdout_loss < self.state["best"]:
            self.state.update(best=holdout_loss, best_epoch=ep, bad=0)
            self.best_sd = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.state["bad"] += 1
        self.state["epoch"] = ep + 1
        if self._bar is not None and hasattr(self._bar, "set_postfix"):
            self._bar.set_postfix(train=f"{entry.get('train_loss', float('nan')):.4f}", hold=f"{holdout_loss:.4f}")
        stop = self.state["bad"] >= self.patience and ep + 1 >= self.n_epochs // 2
        if stop:
            self.state["stopped"] = ep + 1
        save_checkpoint(self.ckpt, {"key": self.key, "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                                    "sched": self.sched.state_dict(), "best_model": self.best_sd,
                                    "state": json.dumps(self.state)})
        return stop

    def best_state_dict(self) -> dict[str, torch.Tensor]:
        """The best held-out weights; the last ones if the held-out loss was never finite."""
        if self.best_sd is None:
            self.best_sd = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return self.best_sd


def optimiser_step(loss: torch.Tensor, opt: Any, sched: Any) -> float:
    """Backward, one optimiser step and one step of the one-cycle LR (held at its end past the last step);
    returns the loss as a float."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched.last_epoch + 1 < sched.total_steps:
        sched.step()
    return float(loss.detach())

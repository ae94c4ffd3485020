"""Two gloo ranks under torchrun give the gradients of one process on the combined batch.

BatchNorm: with batch statistics each rank would normalise its own half, which differs from the
combined batch by design (and ``SyncBatchNorm`` only runs on GPUs). The comparison therefore
keeps every BatchNorm layer in eval mode (running statistics), where data parallelism is exact:
every item's loss and gradient are independent of the others, and DDP's average of the two
ranks' mean gradients is the mean gradient of the whole batch. The workers run in float64 so
that the comparison can be tight (1e-9 relative): in float32 the different summation order alone
gives up to ~3e-4 relative differences on the mask decoder's weight gradient.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parent

WORKER = """
import sys
import torch
from torch.nn.modules.batchnorm import _BatchNorm
sys.path.insert(0, {tests!r})
from helpers_train import ToneMixtures
from avpc_plugin.nets import build_net
from avpc_plugin.train.config import LossSection
from avpc_plugin.train.distributed import init_distributed, shutdown_distributed, train_sampler
from avpc_plugin.train.distributed import wrap_model
from avpc_plugin.train.objective import SeparationObjective

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # exact comparison: rounding far below the tolerance
ctx = init_distributed("cpu")
torch.manual_seed(0)
model = build_net("avpc", visual={{"freeze_trunk": True}}, sound={{"ngf": 4, "train_cycles": 1}})
objective = SeparationObjective(model, LossSection())
objective.train()
for module in objective.modules():
    if isinstance(module, _BatchNorm):
        module.eval()
data = ToneMixtures(count=4)
indices = list(train_sampler(data, ctx, seed=0))
items = [data[i] for i in indices]
keys = ("mix", "audios", "frames")
batch = {{k: torch.stack([item[k] for item in items]).double() for k in keys}}
runner = wrap_model(objective, ctx)
runner(batch["mix"], batch["audios"], batch["frames"]).loss.backward()
if ctx.is_main:
    grads = {{n: p.grad for n, p in model.named_parameters() if p.grad is not None}}
    torch.save({{"grads": grads, "indices": indices, "world": ctx.world_size}}, sys.argv[1])
shutdown_distributed()
"""


def run_worker(script: Path, out: Path, ranks: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(TESTS.parent)
    launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--standalone"]
    command = [sys.executable, *(launcher if ranks > 1 else []), str(script), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True)


def test_two_gloo_ranks_match_one_process_on_the_combined_batch(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(TESTS)))
    single = run_worker(script, tmp_path / "single.pt", ranks=1)
    double = run_worker(script, tmp_path / "double.pt", ranks=2)
    assert single["world"] == 1 and double["world"] == 2
    assert len(double["indices"]) == 2 and len(single["indices"]) == 4  # rank 0 saw half
    grads_1, grads_2 = single["grads"], double["grads"]
    assert set(grads_1) == set(grads_2) and len(grads_1) > 10
    for name, grad in grads_1.items():
        # float64: sums over 256 x 256 bins in another order differ only by rounding
        error = (grads_2[name] - grad).norm() / grad.norm().clamp_min(1e-30)
        assert error < 1e-9, f"{name}: relative gradient difference {error:.2e}"
    assert any(g.abs().sum() > 0 for g in grads_1.values())

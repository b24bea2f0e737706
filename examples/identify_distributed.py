"""Identification sharded over processes with torch.distributed (gloo on CPU, NCCL on GPUs).

    torchrun --nproc_per_node 2 examples/identify_distributed.py            # CPU, 2 processes
    torchrun --nproc_per_node 8 examples/identify_distributed.py --nccl     # one GPU per process

Each rank scores every world_size-th batch; the sums are all-reduced, so every rank ends with the
NeuronSet a single process would produce. Rank 0 saves it.
"""

import os
import sys

import torch
import torch.distributed as dist

import neuronllm_tl as nl

nccl = "--nccl" in sys.argv
dist.init_process_group("nccl" if nccl else "gloo")
rank = dist.get_rank()
device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if nccl else "cpu"
if not nccl:
    torch.set_num_threads(1)
model = nl.load_model("smollm2-135m", device=device)
task = nl.load_task("capitals-mini", answer_format="cloze", limit=32)
neurons = nl.identify(model, task, k=50, attribution="integrated_gradients", checkpoint="capitals_ig.ckpt")
if rank == 0:
    neurons.save("capitals_ig.neurons")
    print(neurons, neurons.metadata["identification"])
dist.destroy_process_group()

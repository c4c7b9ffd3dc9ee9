"""The data ablation (`make ablation`, docs/recipe/ablation.md): one small LLaMA trained, seed for
seed and token for token, on four training sets built from `make corpus`'s output, and evaluated
on documents that none of them saw.

    sets.py  the four training sets and the held-out evaluation sets as token shards, checked
             disjoint by page
    run.py   training, evaluation, the summary over seeds (ablation.json, the table, ablation.png)
"""

"""Temporal analogies on KJV vs WEB: archaic words of the King James Bible should
find their modern counterparts as nearest neighbours in the World English Bible.

For every archaic word of the list below that is in the KJV slice, its KJV
vector is compared with every word vector of the WEB slice (cosine; the query
string itself is not a candidate, since the point is to find the modern form);
the rank of the modern counterpart (best rank when several are accepted) gives
MRR and P@1. CADE is compared with the classic baseline (independent CBOW per
slice + orthogonal Procrustes on the shared vocabulary), same settings, same
seeds.

    .venv/bin/python bench/bench_temporal_analogies.py [--seeds 1 2 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import (add_training_args, corpus_sentences, method_names, save_result,
                    trained_methods, unit, write_lines)

# archaic KJV form -> accepted modern WEB forms
PAIRS = {
    "thee": ["you"], "thou": ["you"], "thy": ["your"], "thine": ["your", "yours"], "ye": ["you"],
    "hath": ["has"], "hast": ["have", "has"], "doth": ["does"], "art": ["are"], "shalt": ["shall", "will"],
    "wilt": ["will"], "saith": ["says"], "spake": ["spoke"], "didst": ["did"], "canst": ["can"],
    "knoweth": ["knows"], "cometh": ["comes"], "goeth": ["goes"], "maketh": ["makes"], "giveth": ["gives"],
    "loveth": ["loves"], "taketh": ["takes"], "speaketh": ["speaks"], "seeth": ["sees"], "heareth": ["hears"],
    "sayest": ["say"], "brethren": ["brothers"], "raiment": ["clothing", "clothes", "garments"],
    "whither": ["where"], "hither": ["here"], "thither": ["there"], "shew": ["show"], "shewed": ["showed"],
    "sware": ["swore"], "begat": ["became", "fathered"], "wherefore": ["therefore", "why"], "unto": ["to"],
    "ghost": ["spirit"], "verily": ["certainly", "most"], "kine": ["cattle", "cows"], "neighbour": ["neighbor"],
    "saidst": ["said"], "wast": ["were"], "camest": ["came"], "dwelleth": ["dwells", "lives"],
}


def evaluate(kjv, web) -> dict:
    web_words = web.index_to_key
    web_mat = unit(web.vectors)
    ranks = []
    used = []
    for archaic, modern in PAIRS.items():
        if archaic not in kjv.key_to_index or not any(m in web.key_to_index for m in modern):
            continue
        q = kjv[archaic] / np.linalg.norm(kjv[archaic])
        sims = web_mat @ q
        if archaic in web.key_to_index:
            sims[web.key_to_index[archaic]] = -np.inf
        order = np.argsort(-sims)
        pos = {web_words[j]: r + 1 for r, j in enumerate(order[:2000])}
        best = min((pos.get(m, 10**6) for m in modern), default=10**6)
        ranks.append(best)
        used.append((archaic, web_words[order[0]], best))
    ranks = np.array(ranks, dtype=float)
    return {"n": int(len(ranks)), "mrr": float(np.mean(1.0 / ranks)), "p_at_1": float(np.mean(ranks == 1)),
            "p_at_5": float(np.mean(ranks <= 5)), "examples": used}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(ap)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-kjv-web-"))
    files = {name: write_lines(corpus_sentences(name), work / f"{name}.txt") for name in ("kjv", "web")}
    rows: dict[str, list] = {m: [] for m in method_names(args)}
    for seed, method, vecs, secs in trained_methods(files, work, args):
        r = evaluate(vecs["kjv"], vecs["web"])
        r.update(seed=seed, seconds=round(secs, 1))
        rows[method].append(r)
        print(f"seed {seed} {method:11s} n={r['n']} MRR={r['mrr']:.3f} P@1={r['p_at_1']:.3f} "
              f"P@5={r['p_at_5']:.3f} ({secs:.0f}s)", flush=True)
    summary = {}
    for method, rs in rows.items():
        for k in ("mrr", "p_at_1", "p_at_5"):
            vals = [r[k] for r in rs]
            summary[f"{method}_{k}_mean"] = float(np.mean(vals))
            summary[f"{method}_{k}_std"] = float(np.std(vals))
    print("\n| method | MRR | P@1 | P@5 |\n|---|---|---|---|")
    for method in rows:
        print(f"| {method} | {summary[method + '_mrr_mean']:.3f} ± {summary[method + '_mrr_std']:.3f} "
              f"| {summary[method + '_p_at_1_mean']:.3f} | {summary[method + '_p_at_5_mean']:.3f} |")
    print("examples (cade, first seed):", [(a, b, r) for a, b, r in rows["cade"][0]["examples"]][:15])
    path = save_result("temporal_analogies_kjv_web", {"args": vars(args), "summary": summary, "runs": rows})
    print("wrote", path)


if __name__ == "__main__":
    main()

"""Train the original CADE (vinid/cade on its gensim 3.6 fork) on slice files and write word2vec-format vectors.

This script runs inside the reference environment built by ``scripts/setup_reference_cade.sh``
(Python with gensim 3.6 from github.com/vinid/gensim and the ``cade`` package), not in the
project's virtual environment: ``bench/common.py::train_cade_reference`` calls it through that
environment's Python. It only drives the reference's public API (``CADE(...).train_compass`` then
``train_slice`` per slice, with the reference's defaults unless given) and saves each slice's
``model.wv`` in word2vec text format.

The reference's ``CADE`` class passes no seed to gensim; ``--seed`` is handed to every
``Word2Vec`` it builds (gensim's own ``seed`` argument), so runs with different seeds differ the
way the project's runs do. Nothing else of the reference is changed.

    <reference python> bench/reference_cade.py --compass all.txt --slice a=a.txt --slice b=b.txt \\
        --out DIR [--seed 1] [--workers 2] [--siter 5] [--diter 5] [--alpha 0.025]
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compass", required=True, help="the concatenation of all slices (one sentence per line)")
    ap.add_argument("--slice", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--ns", type=int, default=10)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--siter", type=int, default=5)
    ap.add_argument("--diter", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=0.025)
    ap.add_argument("--save-compass", action="store_true",
                    help="also write the compass: compass.words (one per line), compass.syn0.npy, compass.syn1neg.npy")
    args = ap.parse_args()

    import gensim.models.word2vec as w2v
    from cade.cade import CADE

    if getattr(w2v, "FAST_VERSION", -1) < 0:
        sys.exit("reference_cade: gensim's compiled word2vec routines are missing (FAST_VERSION < 0); "
                 "build the reference environment with scripts/setup_reference_cade.sh")
    init = w2v.Word2Vec.__init__

    def seeded_init(self, *a, **kw):
        kw.setdefault("seed", args.seed)
        init(self, *a, **kw)

    # the reference builds its models as gensim.models.word2vec.Word2Vec(...) with no seed; the class itself
    # stays (gensim's own super() calls name it)
    w2v.Word2Vec.__init__ = seeded_init
    os.makedirs(args.out, exist_ok=True)
    aligner = CADE(size=args.size, sg=0, siter=args.siter, diter=args.diter, ns=args.ns, window=args.window,
                   alpha=args.alpha, min_count=args.min_count, workers=args.workers,
                   opath=os.path.join(args.out, "model"))
    t0 = time.perf_counter()
    aligner.train_compass(args.compass, overwrite=True)
    print(f"compass trained in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.save_compass:
        import numpy as np

        c = aligner.compass
        with open(os.path.join(args.out, "compass.words"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(c.wv.index2word) + "\n")
        np.save(os.path.join(args.out, "compass.syn0.npy"), c.wv.vectors)
        np.save(os.path.join(args.out, "compass.syn1neg.npy"), c.trainables.syn1neg)
    for item in args.slice:
        name, _, path = item.partition("=")
        t0 = time.perf_counter()
        model = aligner.train_slice(path)
        seconds = time.perf_counter() - t0
        rows = [aligner.compass.wv.vocab[w].index for w in model.wv.index2word]
        frozen = bool((model.trainables.syn1neg == aligner.compass.trainables.syn1neg[rows]).all())
        if not frozen:
            sys.exit(f"reference_cade: slice {name}: the context matrix moved (is this the CADE fork of gensim?)")
        model.wv.save_word2vec_format(os.path.join(args.out, name + ".vec"))
        print(f"slice {name} trained in {seconds:.1f} s ({len(model.wv.vocab)} words; context matrix frozen); wrote",
              os.path.join(args.out, name + ".vec"), flush=True)


if __name__ == "__main__":
    main()

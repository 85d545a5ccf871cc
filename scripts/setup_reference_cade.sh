#!/usr/bin/env bash
# Build the reference CADE environment for side-by-side benchmarks (not needed by the pipeline or the tests):
# the original `cade` package (github.com/vinid/cade) on its gensim 3.6 fork (github.com/vinid/gensim, the
# "frozen layer" commits that add learn_hidden to word2vec's compiled routines), in its own virtual
# environment, because it cannot share one with gensim 4.
#
#   scripts/setup_reference_cade.sh [DEST]        # default DEST: .reference-cade
#   GENSIM_FORK_SRC=/path/to/gensim CADE_SRC=/path/to/cade scripts/setup_reference_cade.sh   # offline checkouts
#
# Then: .venv/bin/python bench/bench_synthetic_change.py --reference-python .reference-cade/venv/bin/python
#
# The fork targets Python 3.5-3.7; on newer Pythons this script (1) regenerates its Cython extensions with
# Cython 0.29 (the shipped .c files do not compile against Python 3.11 headers), (2) builds only the
# extensions word2vec needs, and (3) restores the `collections` ABC aliases gensim 3.6 imports
# (`from collections import Mapping`) through a sitecustomize in that environment. The gensim code itself
# is not edited.
set -euo pipefail
DEST=$(realpath -m "${1:-.reference-cade}")
PY=${PYTHON:-python3}
mkdir -p "$DEST"
fetch() {  # fetch NAME URL SRC_VAR_VALUE
  local name=$1 url=$2 src=${3:-}
  if [ -d "$DEST/$name" ]; then return; fi
  if [ -n "$src" ]; then cp -r "$src" "$DEST/$name"; else git clone --depth 1 "$url" "$DEST/$name"; fi
}
fetch gensim-fork https://github.com/vinid/gensim.git "${GENSIM_FORK_SRC:-}"
fetch cade https://github.com/vinid/cade.git "${CADE_SRC:-}"
test -f "$DEST/gensim-fork/gensim/models/word2vec_inner.pyx" || { echo "no gensim fork at $DEST/gensim-fork" >&2; exit 1; }
test -f "$DEST/cade/cade/cade.py" || { echo "no cade package at $DEST/cade" >&2; exit 1; }
grep -q learn_hidden "$DEST/gensim-fork/gensim/models/word2vec_inner.pyx" || {
  echo "$DEST/gensim-fork is not the CADE fork of gensim (no learn_hidden in word2vec_inner.pyx)" >&2; exit 1; }

[ -x "$DEST/venv/bin/python" ] || "$PY" -m venv "$DEST/venv"
"$DEST/venv/bin/pip" install -q "numpy==1.23.5" "scipy==1.10.1" "cython<3" six "smart_open==1.10.0" setuptools

cd "$DEST/gensim-fork"
CY="$DEST/venv/bin/cython"
"$CY" --directive language_level=3 gensim/models/word2vec_inner.pyx -o gensim/models/word2vec_inner.c
"$CY" --directive language_level=3 gensim/models/_utils_any2vec.pyx -o gensim/models/_utils_any2vec.c
"$CY" --directive language_level=3 gensim/_matutils.pyx -o gensim/_matutils.c
"$CY" --directive language_level=3 gensim/corpora/_mmreader.pyx -o gensim/corpora/_mmreader.c
(cd gensim/models && "$CY" -2 doc2vec_inner.pyx && "$CY" -2 fasttext_inner.pyx)  # implicit relative cimports
cat > "$DEST/build_ext.py" <<'EOF'
from setuptools import setup, Extension
import numpy
mods = ["gensim.models.word2vec_inner", "gensim.models.doc2vec_inner", "gensim.models.fasttext_inner",
        "gensim.models._utils_any2vec", "gensim._matutils", "gensim.corpora._mmreader"]
setup(name="gensim-cade-fork-ext", ext_modules=[
    Extension(m, [m.replace(".", "/") + ".c"], include_dirs=[numpy.get_include(), "gensim/models"]) for m in mods])
EOF
"$DEST/venv/bin/python" "$DEST/build_ext.py" -q build_ext --inplace

SITE=$("$DEST/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
printf '%s\n%s\n' "$DEST/gensim-fork" "$DEST/cade" > "$SITE/reference_cade.pth"
cat > "$SITE/sitecustomize.py" <<'EOF'
# gensim 3.6 imports ABCs from `collections` (removed in Python 3.10)
import collections, collections.abc
for _n in ("Mapping", "MutableMapping", "Iterable", "Sequence", "Callable", "Hashable", "Iterator", "Sized",
           "Container", "MutableSequence", "Set", "MutableSet"):
    if not hasattr(collections, _n):
        setattr(collections, _n, getattr(collections.abc, _n))
EOF
"$DEST/venv/bin/python" -W ignore -c "
import gensim.models.word2vec as w, cade.cade
assert w.FAST_VERSION >= 0, 'compiled word2vec routines did not load'
print('reference CADE ready: gensim', __import__('gensim').__version__, 'FAST_VERSION', w.FAST_VERSION)"
echo "python: $DEST/venv/bin/python"

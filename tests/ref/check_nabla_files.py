#!/usr/bin/env python3
"""tests/ref/check_nabla_files.py DIR — load the files nabla wrote (listed in DIR/manifest_nabla.txt,
same line format as make_safetensors_refs.py) with the Python libraries and compare them bit for bit
with the raw bytes nabla dumped: safetensors.numpy.load_file (and safe_open for the metadata),
numpy.load for .npy and .npz. BF16 (no numpy dtype) is checked by reading the file's header and
bytes directly. Exits non-zero on the first difference."""
import json, os, struct, sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

d = sys.argv[1]
NP = {"f32": "<f4", "f64": "<f8", "f16": "<f2", "i8": "|i1", "u8": "|u1", "i32": "<i4", "i64": "<i8",
      "bool": "|b1"}
cache = {}
checked = 0
for line in open(os.path.join(d, "manifest_nabla.txt")):
    parts = line.split()
    if not parts:
        continue
    fname, key, dt, nd = parts[0], parts[1], parts[2], int(parts[3])
    shape = tuple(int(x) for x in parts[4:4 + nd])
    raw = open(os.path.join(d, parts[4 + nd]), "rb").read()
    path = os.path.join(d, fname)
    if dt == "bf16":
        blob = open(path, "rb").read()
        (n,) = struct.unpack("<Q", blob[:8])
        h = json.loads(blob[8:8 + n])
        e = h[key]
        assert e["dtype"] == "BF16" and tuple(e["shape"]) == shape, (fname, key, e)
        b, en = e["data_offsets"]
        got = blob[8 + n + b:8 + n + en]
    else:
        if fname.endswith(".safetensors"):
            if path not in cache:
                cache[path] = load_file(path)
            arr = cache[path][key]
        elif fname.endswith(".npz"):
            if path not in cache:
                cache[path] = dict(np.load(path))
            arr = cache[path][key]
        else:
            arr = np.load(path)
        assert arr.dtype == np.dtype(NP[dt]), (fname, key, arr.dtype, dt)
        assert arr.shape == shape, (fname, key, arr.shape, shape)
        got = arr.tobytes(order="C")
    if got != raw:
        sys.exit(f"check_nabla_files: {fname}[{key}]: bytes differ from what nabla wrote")
    checked += 1
meta_file = os.path.join(d, "nabla_all.safetensors")
with safe_open(meta_file, framework="numpy") as f:
    meta = f.metadata()
assert meta == {"format": "pt", "note": "d\u00e9j\u00e0 vu"}, meta
print(f"check_nabla_files: {checked} arrays written by nabla load bit-exactly in numpy/safetensors")

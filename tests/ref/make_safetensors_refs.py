#!/usr/bin/env python3
"""tests/ref/make_safetensors_refs.py OUTDIR — reference files written by the Python libraries
(`safetensors.numpy.save_file`, `numpy.save`, `numpy.savez`, `numpy.savez_compressed`) for nabla's
io test (tests/test_io.c, run through tests/ref/io_interop.sh). Needs only numpy and safetensors.

For every array it also writes the bytes nabla must produce when it loads it (C order, little-endian,
after nabla's documented widening of i2/u2/u4) to a .bin file, and one manifest line:
    <file> <key or -> <nabla dtype> <ndim> <dims...> <bin file>
BF16: numpy has no bfloat16, so ref_bf16.safetensors is written by hand (same layout rules).
"""
import json, os, struct, sys

import numpy as np
from safetensors.numpy import save_file

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1234)
manifest = []
NB = {"float32": "f32", "float64": "f64", "float16": "f16", "int8": "i8", "uint8": "u8", "int32": "i32",
      "int64": "i64", "bool": "bool"}
count = [0]


def expect(fname, key, arr, nbdtype=None):
    arr = np.array(arr, order="C", copy=True)  # (ascontiguousarray would turn 0-d into 1-d)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    count[0] += 1
    binf = f"expect_{count[0]}.bin"
    with open(os.path.join(out, binf), "wb") as f:
        f.write(arr.tobytes())
    manifest.append(" ".join([fname, key, nbdtype or NB[arr.dtype.name], str(arr.ndim)] +
                             [str(d) for d in arr.shape] + [binf]))


def floats(shape, dtype):
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    if a.size > 2:
        a.flat[0] = np.inf
        a.flat[1] = np.nan
    return a


arrays = {
    "f32": floats((3, 4), np.float32),
    "f64": floats((2, 3, 2), np.float64),
    "f16": floats((7,), np.float16),
    "i8": rng.integers(-128, 128, (4, 2), dtype=np.int8),
    "u8": rng.integers(0, 256, (9,), dtype=np.uint8),
    "i32": rng.integers(-2**31, 2**31, (2, 2), dtype=np.int32),
    "i64": rng.integers(-2**62, 2**62, (3,), dtype=np.int64),
    "bool": rng.integers(0, 2, (2, 3)).astype(np.bool_),
    "scalar": np.array(3.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
    "layers.0.weight": floats((4, 3), np.float32),
}
save_file(arrays, os.path.join(out, "ref_all.safetensors"), metadata={"format": "np", "note": "d\u00e9j\u00e0 vu"})
for k, a in arrays.items():
    expect("ref_all.safetensors", k, a)

# BF16 by hand: the top 16 bits of float32 values.
bf = (floats((5,), np.float32).view(np.uint32) >> 16).astype(np.uint16)
hdr = json.dumps({"w": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}}, separators=(",", ":")).encode()
hdr += b" " * ((8 - (8 + len(hdr)) % 8) % 8)
with open(os.path.join(out, "ref_bf16.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + bf.tobytes())
count[0] += 1
with open(os.path.join(out, f"expect_{count[0]}.bin"), "wb") as f:
    f.write(bf.tobytes())
manifest.append(f"ref_bf16.safetensors w bf16 1 5 expect_{count[0]}.bin")

# .npy: every dtype nabla maps, Fortran order, big-endian, the widened types, 0-d and empty.
npys = {
    "f32": arrays["f32"], "f64": arrays["f64"], "f16": arrays["f16"], "i8": arrays["i8"], "u8": arrays["u8"],
    "i32": arrays["i32"], "i64": arrays["i64"], "bool": arrays["bool"], "scalar": arrays["scalar"],
    "empty": arrays["empty"],
}
for k, a in npys.items():
    np.save(os.path.join(out, f"ref_{k}.npy"), a)
    expect(f"ref_{k}.npy", "-", a)
fort = np.asfortranarray(floats((3, 4, 2), np.float64))
np.save(os.path.join(out, "ref_fortran.npy"), fort)
expect("ref_fortran.npy", "-", fort)
for k, a in {"be_f32": arrays["f32"].astype(">f4"), "be_i64": arrays["i64"].astype(">i8"),
             "be_fortran_i32": np.asfortranarray(arrays["i32"].astype(">i4"))}.items():
    np.save(os.path.join(out, f"ref_{k}.npy"), a)
    expect(f"ref_{k}.npy", "-", a.astype(a.dtype.newbyteorder("<")))
for k, a, to in (("i2", rng.integers(-30000, 30000, (6,), dtype=np.int16), "i32"),
                 ("u2", rng.integers(0, 65535, (6,), dtype=np.uint16), "i32"),
                 ("u4", rng.integers(0, 2**32, (2, 2), dtype=np.uint32), "i64")):
    np.save(os.path.join(out, f"ref_{k}.npy"), a)
    expect(f"ref_{k}.npy", "-", a.astype(np.int32 if to == "i32" else np.int64))

# .npz, stored and deflated.
z = {"a": arrays["f32"], "b": arrays["i64"], "c": arrays["scalar"], "d": arrays["empty"], "e": fort}
np.savez(os.path.join(out, "ref_stored.npz"), **z)
np.savez_compressed(os.path.join(out, "ref_deflated.npz"), **z)
np.savez(os.path.join(out, "ref_positional.npz"), arrays["u8"], arrays["bool"])
for f in ("ref_stored.npz", "ref_deflated.npz"):
    for k, a in z.items():
        expect(f, k, a)
# ZIP64 records everywhere (central directory extras, ZIP64 end records): lower zipfile's limits.
import zipfile
saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 1, 1
try:
    np.savez(os.path.join(out, "ref_zip64.npz"), a=arrays["f32"], b=arrays["i64"])
finally:
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved
expect("ref_zip64.npz", "a", arrays["f32"])
expect("ref_zip64.npz", "b", arrays["i64"])
expect("ref_positional.npz", "arr_0", arrays["u8"])
expect("ref_positional.npz", "arr_1", arrays["bool"])

with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print(f"make_safetensors_refs: {len(manifest)} reference arrays in {out}")

# SPDX-License-Identifier: MIT
# bench/real_numpy.py MIB: the numpy workload of bench/real.sh. Arrays of MIB MiB each
# (numpy takes them from malloc: each one a buffer the library may place): a triad over
# three of them, a sort, an FFT and a matrix product, then the seconds the work took
# (imports and interpreter start left out) and a checksum of the results, for a look.
import sys
import time

import numpy as np

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 128
n = mib * 1024 * 1024 // 8
rng = np.random.default_rng(12345)

start = time.perf_counter()
b = rng.random(n)
c = rng.random(n)
a = np.empty(n)
for _ in range(10):
    np.multiply(c, 3.0, out=a)
    np.add(a, b, out=a)
order = np.sort(b[: n // 4])
spectrum = np.fft.rfft(c[: n // 4])
side = max(64, int((mib * 1024 * 1024 / 8 / 64) ** 0.5))
m = rng.random((side, side))
product = m @ m.T
elapsed = time.perf_counter() - start

check = float(a[:: 4096].sum() + order[:: 4096].sum() + abs(spectrum[1]) + product.trace())
print(f"numpy_s={elapsed:.6f} mib={mib} side={side} check={check:.6e}")

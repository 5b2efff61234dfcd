#!/usr/bin/python3
"""Reference fixtures for package filter, computed with independent Python libraries.

Run once with Debian's interpreter (python3-numpy, python3-pywt, python3-scipy):

    /usr/bin/python3 internal/radiomics/filter/testdata/gen_fixtures.py

It writes, next to this script:

  wavelet.json  pywt.swtn sub-bands, prepared the way PyRadiomics 3.0.1 prepares them: odd array
                dimensions padded by one sample in numpy 'wrap' mode, one single-level swtn per
                decomposition level over axes (2, 1, 0) (x, y, z), detail bands cropped back to the
                input shape, approximation kept only for the last level.
  log.json      scale-normalised Laplacian of Gaussian: scipy.ndimage.gaussian_filter with a
                second-order derivative along one axis at a time (mode 'nearest', truncate 4),
                divided by spacing^2, summed over the axes and multiplied by sigma^2 (mm).
  simple.json   square, squareroot, logarithm, exponential (PyRadiomics' formulas in numpy) and
                the gradient magnitude (central differences, edge samples replicated, divided by
                spacing).

With --itk-binary PATH it also writes itk.json: outputs of ITK 5.2's
LaplacianRecursiveGaussianImageFilter (NormalizeAcrossScale on) and GradientMagnitudeImageFilter,
the filters PyRadiomics calls through SimpleITK, computed by the small program built from
gen_itk_reference.cxx (see its header; needs Debian's libinsighttoolkit5-dev).

With --go-table it instead prints the Go source of the wavelet filter table (wavelet_table.go),
taken from pywt.Wavelet(name).dec_lo / dec_hi.

Every input volume is an integer formula of the voxel index (see pattern()), which the Go tests
reproduce, so no input data is stored.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pywt
import scipy.ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))


def pattern(nx, ny, nz):
    """Deterministic test volume as a numpy array of shape (nz, ny, nx); voxel (i, j, k) is
    ((i*7919 + j*104729 + k*1299709 + i*j*31 + j*k*37 + i*k*41) mod 2003) - 1000."""
    a = np.zeros((nz, ny, nx), dtype=np.float64)
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                v = (i * 7919 + j * 104729 + k * 1299709 + i * j * 31 + j * k * 37 + i * k * 41) % 2003
                a[k, j, i] = v - 1000
    return a


def flat(a, digits=None):
    """Array (z, y, x) flattened with x fastest, as Go's Image.Data. With digits, values are
    rounded to that many significant digits to keep the files small."""
    out = []
    for v in np.asarray(a, dtype=np.float64).ravel(order="C"):
        v = float(v)
        if digits is not None:
            v = float("%.*g" % (digits, v))
        out.append(v)
    return out


def radiomics_swt(arr, wavelet, level, start_level):
    """Sub-bands as PyRadiomics' getWaveletImage yields them: list of (key, array)."""
    shape = arr.shape
    pad = tuple((0, 1 if n % 2 else 0) for n in shape)
    data = np.pad(arr.copy(), pad, "wrap")
    crop = tuple(slice(None, -1 if n % 2 else None) for n in shape)
    w = pywt.Wavelet(wavelet)
    axes = (2, 1, 0)
    for _ in range(start_level):
        data = pywt.swtn(data, w, level=1, start_level=0, axes=axes)[0]["aaa"].copy()
    out = []
    for idx in range(1, level + 1):
        dec = pywt.swtn(data, w, level=1, start_level=0, axes=axes)[0]
        data = dec["aaa"].copy()
        prefix = "wavelet-" if idx == 1 else "wavelet%d-" % idx
        for name, band in dec.items():
            if name == "aaa":
                continue
            key = prefix + name.replace("a", "L").replace("d", "H")
            out.append((key, band[crop].copy()))
    last = "wavelet-LLL" if level == 1 else "wavelet%d-LLL" % level
    out.append((last, data[crop].copy()))
    return out


def wavelet_fixtures():
    cases = []
    specs = [
        # (size (nx, ny, nz), wavelet, level, start_level)
        ((5, 4, 3), "haar", 1, 0),
        ((5, 4, 3), "db2", 1, 0),
        ((5, 4, 3), "sym3", 1, 0),
        ((5, 4, 3), "coif1", 1, 0),
        ((9, 8, 7), "coif1", 1, 0),
        ((5, 4, 3), "db2", 2, 0),
        ((5, 4, 3), "db2", 1, 1),
        ((5, 4, 3), "coif1", 2, 1),
        ((4, 5, 1), "haar", 1, 0),
    ]
    for size, wav, level, start in specs:
        arr = pattern(*size)
        bands = radiomics_swt(arr, wav, level, start)
        cases.append({
            "size": list(size),
            "wavelet": wav,
            "level": level,
            "start_level": start,
            "bands": [{"name": k, "data": flat(v, 14)} for k, v in bands],
        })
    return {"cases": cases}


def log_reference(arr, sigma_mm, spacing):
    """spacing is (sx, sy, sz) in mm; arr has shape (nz, ny, nx)."""
    sp = np.array(spacing[::-1], dtype=np.float64)  # array axis order (z, y, x)
    sig = sigma_mm / sp
    total = np.zeros_like(arr)
    for ax in range(3):
        order = [0, 0, 0]
        order[ax] = 2
        d2 = ndi.gaussian_filter(arr, sig, order=order, mode="nearest", truncate=4.0)
        total += d2 / (sp[ax] * sp[ax])
    return total * sigma_mm * sigma_mm


def log_fixtures():
    cases = []
    specs = [
        ((10, 9, 8), (1.0, 1.0, 1.0), 1.0),
        ((10, 9, 8), (1.0, 1.25, 2.0), 1.0),
        ((10, 9, 8), (1.0, 1.25, 2.0), 2.5),
        ((6, 5, 4), (0.8, 0.8, 3.0), 3.0),
    ]
    for size, spacing, sigma in specs:
        arr = pattern(*size)
        ref = log_reference(arr, sigma, spacing)
        if spacing == (1.0, 1.0, 1.0):
            # cross-check with scipy's own Laplacian helper on an isotropic grid
            alt = ndi.gaussian_laplace(arr, sigma, mode="nearest", truncate=4.0) * sigma * sigma
            assert np.allclose(ref, alt, rtol=0, atol=1e-9)
        cases.append({
            "size": list(size),
            "spacing": list(spacing),
            "sigma": sigma,
            "data": flat(ref, 15),
        })
    return {"cases": cases}


def simple_fixtures():
    size = (5, 4, 3)
    spacing = (0.7, 1.1, 2.5)
    arr = pattern(*size)

    im = arr.copy()
    coeff = 1 / np.sqrt(np.max(np.abs(im)))
    square = (coeff * im) ** 2

    im = arr.copy()
    coeff = np.max(np.abs(im))
    im[im > 0] = np.sqrt(im[im > 0] * coeff)
    im[im < 0] = -np.sqrt(-im[im < 0] * coeff)
    sqroot = im

    im = arr.copy()
    im_max = np.max(np.abs(im))
    im[im > 0] = np.log(im[im > 0] + 1)
    im[im < 0] = -np.log(-(im[im < 0] - 1))
    logarithm = im * (im_max / np.max(np.abs(im)))

    im = arr.copy()
    im_max = np.max(np.abs(im))
    coeff = np.log(im_max) / im_max
    exponential = np.exp(coeff * im)

    padded = np.pad(arr, 1, mode="edge")
    sp = spacing[::-1]
    comps = []
    for ax in range(3):
        hi = [slice(1, -1)] * 3
        lo = [slice(1, -1)] * 3
        hi[ax] = slice(2, None)
        lo[ax] = slice(0, -2)
        comps.append((padded[tuple(hi)] - padded[tuple(lo)]) / (2 * sp[ax]))
    gradient = np.sqrt(sum(c * c for c in comps))

    return {
        "size": list(size),
        "spacing": list(spacing),
        "square": flat(square),
        "squareroot": flat(sqroot),
        "logarithm": flat(logarithm),
        "exponential": flat(exponential),
        "gradient": flat(gradient),
    }


def itk_filter(binary, arr, spacing, sigma):
    """Runs the ITK reference program on arr (shape (nz, ny, nx)); sigma <= 0 is the gradient."""
    nz, ny, nx = arr.shape
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.raw"), os.path.join(tmp, "out.raw")
        np.ascontiguousarray(arr, dtype="<f8").tofile(src)
        args = [binary, src, dst, str(nx), str(ny), str(nz)] + [repr(float(s)) for s in spacing]
        subprocess.run(args + [repr(float(sigma))], check=True)
        return np.fromfile(dst, dtype="<f8").reshape(arr.shape)


def itk_fixtures(binary):
    log_cases = []
    specs = [
        ((10, 9, 8), (1.0, 1.25, 2.0), 1.0),
        ((10, 9, 8), (1.0, 1.25, 2.0), 2.5),
        ((6, 5, 4), (0.8, 0.8, 3.0), 3.0),
        ((16, 12, 10), (0.9, 0.9, 2.5), 0.5),
        ((16, 12, 10), (0.9, 0.9, 2.5), 2.0),
    ]
    for size, spacing, sigma in specs:
        out = itk_filter(binary, pattern(*size), spacing, sigma)
        # ITK accumulates in float32: 9 significant digits keep every value exactly.
        log_cases.append({"size": list(size), "spacing": list(spacing), "sigma": sigma, "data": flat(out, 9)})
    gsize, gspacing = (5, 4, 3), (0.7, 1.1, 2.5)
    grad = itk_filter(binary, pattern(*gsize), gspacing, 0)
    return {
        "log": log_cases,
        "gradient": {"size": list(gsize), "spacing": list(gspacing), "data": flat(grad)},
    }


def go_table():
    names = pywt.wavelist(kind="discrete")
    lines = [
        "// Code generated by testdata/gen_fixtures.py --go-table from PyWavelets %s; DO NOT EDIT." % pywt.__version__,
        "",
        "package filter",
        "",
        "// waveletTable holds the analysis (decomposition) filters of each wavelet. hi is nil for",
        "// orthogonal wavelets, whose high-pass filter is the quadrature mirror of lo.",
        "var waveletTable = map[string]waveletFilters{",
    ]
    for name in names:
        w = pywt.Wavelet(name)
        lo = list(w.dec_lo)
        hi = list(w.dec_hi)
        n = len(lo)
        qmf = [(-1) ** (k + 1) * lo[n - 1 - k] for k in range(n)]
        lines.append("\t%s: {" % json.dumps(name))
        lines.append("\t\tlo: []float64{%s}," % ", ".join(repr(float(v)) for v in lo))
        if qmf != hi:
            lines.append("\t\thi: []float64{%s}," % ", ".join(repr(float(v)) for v in hi))
        lines.append("\t},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dump(name, obj):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


def main():
    if "--go-table" in sys.argv[1:]:
        sys.stdout.write(go_table())
        return
    dump("wavelet.json", wavelet_fixtures())
    dump("log.json", log_fixtures())
    dump("simple.json", simple_fixtures())
    if "--itk-binary" in sys.argv[1:]:
        dump("itk.json", itk_fixtures(sys.argv[sys.argv.index("--itk-binary") + 1]))


if __name__ == "__main__":
    main()

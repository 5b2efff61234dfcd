// ITK reference for resample_test.go: resamples small synthetic images with the interpolators
// SimpleITK maps sitkNearestNeighbor, sitkLinear and sitkBSpline to, through
// itk::ResampleImageFilter<In, Out, double> with its default identity transform and default
// value 0, exactly as SimpleITK's ResampleImageFilter (and so PyRadiomics' resampleImage) runs it.
// Needs Debian's libinsighttoolkit5-dev; build and run from this directory:
//
//   g++ -O2 -std=c++17 -I/usr/include/ITK-5.2 gen_itk_resample.cxx -o /tmp/itkresample -L/usr/lib \
//     -lITKTransform-5.2 -lITKCommon-5.2 -litksys-5.2 -litkvnl_algo-5.2 -litkvnl-5.2 \
//     -litkv3p_netlib-5.2 -lpthread
//   /tmp/itkresample > itk_resample.json
//
// Build for x86-64 without -march/-ffast-math (as Debian's and SimpleITK's x86-64 binaries are):
// no fused multiply-adds, and ITK's SSE2 rounding helpers.
//
// The inputs are integer formulas of the voxel index (see value() below, mirrored by rsFormula in
// resample_test.go), so the JSON only stores geometries and the outputs. Geometries are written
// with %.17g so both sides use bit-identical doubles; float32 outputs with %.9g (enough to
// round-trip a float32), integer outputs as integers. Besides the resampling cases the JSON holds
// glibc's powers of the B-spline pole, two end-to-end PyRadiomics resampleImage runs and ITK's
// physical-to-index matrices for 60 directions.
#include "itkBSplineInterpolateImageFunction.h"
#include "itkImage.h"
#include "itkLinearInterpolateImageFunction.h"
#include "itkNearestNeighborInterpolateImageFunction.h"
#include "itkResampleImageFilter.h"
#include "itkVersion.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace
{
constexpr unsigned int Dim = 3;

struct Geometry
{
  std::string name;
  double      origin[3];
  double      spacing[3];
  double      dir[9]; // row-major: dir[3*r+c] = component r of index axis c
  long        size[3];
};

// value is the synthetic input, before the cast to the pixel type.
double
value(const std::string & formula, long i, long j, long k)
{
  if (formula == "smooth")
  {
    return double(5 * i * i + 3 * j * j - 7 * k * k + i * j - 2 * j * k + 3 * i * k - 100);
  }
  if (formula == "wide")
  {
    return double((i * 7919 + j * 6007 + k * 3001 + i * j * k * 13) % 65536 - 32768);
  }
  if (formula == "byte")
  {
    return double((i * 37 + j * 101 + k * 53 + i * j * k) % 256);
  }
  // "frac"
  return double(3 * i * i + 7 * j - 5 * k * k + i * j * k - 50) / 7.0;
}

template <typename TImage>
typename TImage::Pointer
makeImage(const Geometry & g)
{
  auto                          im = TImage::New();
  typename TImage::RegionType   region;
  typename TImage::SizeType     size;
  typename TImage::DirectionType d;
  for (unsigned int a = 0; a < Dim; ++a)
  {
    size[a] = g.size[a];
    for (unsigned int c = 0; c < Dim; ++c)
    {
      d[a][c] = g.dir[3 * a + c];
    }
  }
  region.SetSize(size);
  im->SetRegions(region);
  im->SetOrigin(g.origin);
  im->SetSpacing(g.spacing);
  im->SetDirection(d);
  return im;
}

template <typename TPixel>
typename itk::Image<TPixel, Dim>::Pointer
makeInput(const Geometry & g, const std::string & formula)
{
  using ImageType = itk::Image<TPixel, Dim>;
  auto im = makeImage<ImageType>(g);
  im->Allocate();
  TPixel * buf = im->GetBufferPointer();
  for (long k = 0, n = 0; k < g.size[2]; ++k)
    for (long j = 0; j < g.size[1]; ++j)
      for (long i = 0; i < g.size[0]; ++i, ++n)
        buf[n] = static_cast<TPixel>(value(formula, i, j, k));
  return im;
}

void
printArray(const double * v, int n)
{
  std::printf("[");
  for (int i = 0; i < n; ++i)
    std::printf("%s%.17g", i ? ", " : "", v[i]);
  std::printf("]");
}

void
printGeometry(const Geometry & g, bool last)
{
  std::printf("    \"%s\": {\"origin\": ", g.name.c_str());
  printArray(g.origin, 3);
  std::printf(", \"spacing\": ");
  printArray(g.spacing, 3);
  std::printf(", \"direction\": ");
  printArray(g.dir, 9);
  std::printf(", \"size\": [%ld, %ld, %ld]}%s\n", g.size[0], g.size[1], g.size[2], last ? "" : ",");
}

template <typename TPixel>
void
printValue(TPixel v, bool first)
{
  std::printf(first ? "%.0f" : ",%.0f", double(v));
}
template <>
void
printValue<float>(float v, bool first)
{
  std::printf(first ? "%.9g" : ",%.9g", double(v));
}
template <>
void
printValue<double>(double v, bool first)
{
  std::printf(first ? "%.17g" : ",%.17g", v);
}

bool firstCase = true;

template <typename TPixel>
void
runCase(const Geometry & in, const std::string & formula, const std::string & pixelType, const Geometry & out,
        const std::string & interp)
{
  using ImageType = itk::Image<TPixel, Dim>;
  auto input = makeInput<TPixel>(in, formula);
  auto filter = itk::ResampleImageFilter<ImageType, ImageType, double>::New();
  filter->SetInput(input);
  if (interp == "sitkNearestNeighbor")
  {
    filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<ImageType, double>::New());
  }
  else if (interp == "sitkLinear")
  {
    filter->SetInterpolator(itk::LinearInterpolateImageFunction<ImageType, double>::New());
  }
  else
  {
    // SimpleITK's sitkBSpline: default spline order 3, double coefficients.
    filter->SetInterpolator(itk::BSplineInterpolateImageFunction<ImageType, double>::New());
  }
  auto ref = makeImage<ImageType>(out);
  filter->SetOutputParametersFromImage(ref);
  filter->SetDefaultPixelValue(0);
  filter->Update();
  const ImageType * res = filter->GetOutput();
  const size_t      n = res->GetBufferedRegion().GetNumberOfPixels();
  std::printf("%s    {\"input\": \"%s\", \"formula\": \"%s\", \"pixel_type\": \"%s\", \"output\": \"%s\", "
              "\"interpolator\": \"%s\",\n     \"values\": [",
              firstCase ? "" : ",\n", in.name.c_str(), formula.c_str(), pixelType.c_str(), out.name.c_str(),
              interp.c_str());
  firstCase = false;
  for (size_t i = 0; i < n; ++i)
    printValue<TPixel>(res->GetBufferPointer()[i], i == 0);
  std::printf("]}");
}

// pointAt is ITK's TransformContinuousIndexToPhysicalPoint on geometry g.
void
pointAt(const Geometry & g, const double idx[3], double p[3])
{
  for (int r = 0; r < 3; ++r)
  {
    double sum = 0;
    for (int c = 0; c < 3; ++c)
      sum += g.dir[3 * r + c] * g.spacing[c] * idx[c];
    p[r] = sum + g.origin[r];
  }
}

// derived builds a target grid from input g: direction dir (nullptr: g's), spacing, size and the
// continuous index of g at which its first voxel lies.
Geometry
derived(const std::string & name, const Geometry & g, const double * dir, const double sp[3], const long size[3],
        const double startIdx[3])
{
  Geometry t;
  t.name = name;
  for (int a = 0; a < 9; ++a)
    t.dir[a] = dir ? dir[a] : g.dir[a];
  for (int a = 0; a < 3; ++a)
  {
    t.spacing[a] = sp[a];
    t.size[a] = size[a];
  }
  pointAt(g, startIdx, t.origin);
  return t;
}

void
rotation(double az, double ax, double out[9])
{
  // Rz(az) * Rx(ax), columns are the index axes.
  const double cz = std::cos(az), sz = std::sin(az), cx = std::cos(ax), sx = std::sin(ax);
  const double rz[9] = { cz, -sz, 0, sz, cz, 0, 0, 0, 1 };
  const double rx[9] = { 1, 0, 0, 0, cx, -sx, 0, sx, cx };
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
    {
      double s = 0;
      for (int m = 0; m < 3; ++m)
        s += rz[3 * r + m] * rx[3 * m + c];
      out[3 * r + c] = s;
    }
}
// runExtraction writes one PyRadiomics resampleImage run: the grid from the ROI box lo..hi (label 1)
// with numpy's formulas (the same float64 operations), the origin by the mask's
// TransformContinuousIndexToPhysicalPoint, then the int16 image resampled with BSpline and the
// UInt32 mask with nearest neighbour, both by ResampleImageFilter.
void
runExtraction(const Geometry & g, const std::string & formula, const long lo[3], const long hi[3], long pad,
              const double newSp[3], bool last)
{
  using ImageType = itk::Image<int16_t, Dim>;
  using MaskType = itk::Image<uint32_t, Dim>;
  auto image = makeInput<int16_t>(g, formula);
  auto mask = makeImage<MaskType>(g);
  mask->Allocate();
  mask->FillBuffer(0);
  for (long k = lo[2]; k <= hi[2]; ++k)
    for (long j = lo[1]; j <= hi[1]; ++j)
      for (long i = lo[0]; i <= hi[0]; ++i)
        mask->SetPixel({ { i, j, k } }, 1);

  Geometry out;
  out.name = "extraction";
  std::copy(g.dir, g.dir + 9, out.dir);
  itk::ContinuousIndex<double, Dim> originIdx;
  for (int a = 0; a < 3; ++a)
  {
    const double ratio = g.spacing[a] / newSp[a];
    double       lb = std::floor((double(lo[a]) - 0.5) * ratio - double(pad));
    double       ub = std::ceil((double(lo[a] + (hi[a] - lo[a] + 1)) - 0.5) * ratio + double(pad));
    const double maxUB = std::ceil(double(g.size[a]) * ratio) - 1;
    lb = lb < 0 ? 0 : lb;
    ub = ub > maxUB ? maxUB : ub;
    out.size[a] = long(ub - lb + 1);
    out.spacing[a] = newSp[a];
    originIdx[a] = 0.5 * (newSp[a] - g.spacing[a]) / g.spacing[a] + lb / ratio;
  }
  itk::Point<double, Dim> origin;
  mask->TransformContinuousIndexToPhysicalPoint(originIdx, origin);
  for (int a = 0; a < 3; ++a)
    out.origin[a] = origin[a];

  auto ri = itk::ResampleImageFilter<ImageType, ImageType, double>::New();
  ri->SetInput(image);
  ri->SetInterpolator(itk::BSplineInterpolateImageFunction<ImageType, double>::New());
  ri->SetOutputParametersFromImage(makeImage<ImageType>(out));
  ri->Update();
  auto rm = itk::ResampleImageFilter<MaskType, MaskType, double>::New();
  rm->SetInput(mask);
  rm->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<MaskType, double>::New());
  rm->SetOutputParametersFromImage(makeImage<MaskType>(out));
  rm->Update();

  std::printf("    {\"input\": \"%s\", \"formula\": \"%s\", \"lo\": [%ld, %ld, %ld], \"hi\": [%ld, %ld, %ld], "
              "\"pad\": %ld, \"spacing\": ",
              g.name.c_str(), formula.c_str(), lo[0], lo[1], lo[2], hi[0], hi[1], hi[2], pad);
  printArray(newSp, 3);
  std::printf(",\n     \"origin\": ");
  printArray(out.origin, 3);
  std::printf(", \"size\": [%ld, %ld, %ld],\n     \"image\": [", out.size[0], out.size[1], out.size[2]);
  const size_t n = ri->GetOutput()->GetBufferedRegion().GetNumberOfPixels();
  for (size_t i = 0; i < n; ++i)
    printValue<int16_t>(ri->GetOutput()->GetBufferPointer()[i], i == 0);
  std::printf("],\n     \"mask\": [");
  for (size_t i = 0; i < n; ++i)
    printValue<uint32_t>(rm->GetOutput()->GetBufferPointer()[i], i == 0);
  std::printf("]}%s\n", last ? "" : ",");
}

// printInverses writes ITK's physical-point-to-index matrix (vnl_svd based) for pseudo-random
// directions and spacings, in hex: rotations, signed axis permutations, and DICOM-like cosines
// that are orthogonal only to ~1e-4.
void
printInverses()
{
  unsigned long long state = 12345;
  auto               next = [&state]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) / 9007199254740992.0;
  };
  std::printf("  \"inverses\": [\n");
  const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
  for (int t = 0; t < 60; ++t)
  {
    double d[9], sp[3];
    for (double & x : sp)
      x = 0.3 + 4.7 * next();
    if (t < 12)
    {
      // Signed permutation.
      for (double & x : d)
        x = 0;
      for (int c = 0; c < 3; ++c)
        d[3 * perms[t % 6][c] + c] = next() < 0.5 ? -1 : 1;
    }
    else if (t < 48)
    {
      rotation(2 * M_PI * next(), M_PI * (next() - 0.5), d);
      double r2[9], tmp[9];
      rotation(2 * M_PI * next(), 0, r2);
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c)
        {
          double sum = 0;
          for (int m = 0; m < 3; ++m)
            sum += d[3 * r + m] * r2[3 * m + c];
          tmp[3 * r + c] = sum;
        }
      std::copy(tmp, tmp + 9, d);
    }
    else
    {
      // Row and column cosines with a small skew; normal = row x col.
      double row[3] = { 1, 1e-4 * (next() - 0.5), 0.02 * next() }, col[3] = { 2e-4 * (next() - 0.5), 1, -0.03 * next() };
      for (double * v : { row, col })
      {
        const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        for (int a = 0; a < 3; ++a)
          v[a] /= n;
      }
      const double nrm[3] = { row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                              row[0] * col[1] - row[1] * col[0] };
      for (int r = 0; r < 3; ++r)
      {
        d[3 * r + 0] = row[r];
        d[3 * r + 1] = col[r];
        d[3 * r + 2] = nrm[r];
      }
    }
    using ImageType = itk::Image<short, Dim>;
    auto                     im = ImageType::New();
    ImageType::DirectionType dir;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        dir[r][c] = d[3 * r + c];
    im->SetSpacing(sp);
    im->SetDirection(dir);
    double inv[9];
    for (int c = 0; c < 3; ++c)
    {
      // Origin 0 and a unit vector: each component of the index is one matrix entry, exactly.
      itk::Point<double, Dim> p;
      p.Fill(0);
      p[c] = 1;
      itk::ContinuousIndex<double, Dim> ci;
      im->TransformPhysicalPointToContinuousIndex(p, ci);
      for (int r = 0; r < 3; ++r)
        inv[3 * r + c] = ci[r];
    }
    std::printf("    {\"direction\": [");
    for (int a = 0; a < 9; ++a)
      std::printf("%s\"%a\"", a ? ", " : "", d[a]);
    std::printf("], \"spacing\": [\"%a\", \"%a\", \"%a\"], \"inverse\": [", sp[0], sp[1], sp[2]);
    for (int a = 0; a < 9; ++a)
      std::printf("%s\"%a\"", a ? ", " : "", inv[a]);
    std::printf("]}%s\n", t == 59 ? "" : ",");
  }
  std::printf("  ]\n");
}
} // namespace

int
main()
{
  Geometry flip{ "flipY", { -5.3, 7.1, -12.0 }, { 0.9, 1.1, 2.0 }, { 1, 0, 0, 0, -1, 0, 0, 0, 1 }, { 12, 11, 7 } };
  Geometry obl{ "oblique", { 3.2, -4.7, 10.4 }, { 0.8, 1.2, 1.5 }, {}, { 12, 11, 7 } };
  rotation(25.0 * M_PI / 180.0, 10.0 * M_PI / 180.0, obl.dir);
  // Lines longer than the 18-sample horizon of the prefilter's causal initialisation, with
  // permuted and flipped axes; and a single-slice image (PyRadiomics' 2-D case).
  Geometry lng{ "long", { 12.5, -3.25, 40.0 }, { 0.7, 0.65, 3.0 }, { 0, 1, 0, -1, 0, 0, 0, 0, -1 }, { 25, 21, 6 } };
  Geometry slc{ "slice", { -20.0, 15.5, 2.5 }, { 0.95, 0.95, 5.0 }, { 1, 0, 0, 0, -1, 0, 0, 0, -1 }, { 14, 12, 1 } };

  const long   small[3] = { 8, 7, 5 };
  const double identity[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  double       rot2[9];
  rotation(-15.0 * M_PI / 180.0, 30.0 * M_PI / 180.0, rot2);

  std::vector<Geometry> targets;
  for (const Geometry * g : { &flip, &obl })
  {
    const std::string p = g->name + "/";
    {
      // Finer grid, shifted: starts left of the image in x and runs past its far end in y.
      const double sp[3] = { 0.55, 0.7, 1.3 }, start[3] = { -1.3, 7.3, 2.1 };
      targets.push_back(derived(p + "fine", *g, nullptr, sp, small, start));
    }
    {
      // PyRadiomics-style grid at twice the spacing: origin index 0.5*(new-old)/old + bound/ratio,
      // so every continuous index is a half-integer (nearest-neighbour ties, the z edge at 6.5).
      const double sp[3] = { 2 * g->spacing[0], 2 * g->spacing[1], 2 * g->spacing[2] };
      const long   size[3] = { 6, 5, 4 };
      const double start[3] = { 0.5, 2.5, 0.5 };
      targets.push_back(derived(p + "double", *g, nullptr, sp, size, start));
    }
    {
      // Another direction, partly outside.
      const double sp[3] = { 0.75, 0.75, 1.1 }, start[3] = { 3.4, 2.2, 1.7 };
      targets.push_back(derived(p + "rotated", *g, g == &flip ? identity : rot2, sp, small, start));
    }
    {
      // The input grid itself from voxel (5,4,2): samples the nodes, runs out of the image in x.
      const double start[3] = { 5, 4, 2 };
      targets.push_back(derived(p + "aligned", *g, nullptr, g->spacing, small, start));
    }
  }

  {
    const double sp[3] = { 0.45, 0.5, 1.0 }, start[3] = { 1.6, 2.3, 0.4 };
    targets.push_back(derived("long/fine", lng, nullptr, sp, small, start));
    const double sp2[3] = { 0.8, 0.9, 1.7 }, start2[3] = { 14.2, 9.7, 2.5 };
    targets.push_back(derived("long/rotated", lng, rot2, sp2, small, start2));
    const double sp3[3] = { 0.6, 0.7, 5.0 }, start3[3] = { 3.3, 1.7, 0.0 };
    const long   size3[3] = { 9, 8, 1 };
    targets.push_back(derived("slice/fine", slc, nullptr, sp3, size3, start3));
  }

  std::printf("{\n  \"itk_version\": \"%s\",\n", itk::Version::GetITKVersion());
  // glibc's pow(z, n) for the cubic B-spline pole, which BSplineDecompositionImageFilter uses to
  // initialise lines of at most 18 samples; hex so Go can check its own power bit for bit.
  const double pole = std::sqrt(3.0) - 2.0;
  std::printf("  \"pole_powers\": [");
  for (int n = 0; n <= 40; ++n)
    std::printf("%s\"%a\"", n ? ", " : "", std::pow(pole, double(n)));
  std::printf("],\n  \"geometries\": {\n");
  printGeometry(flip, false);
  printGeometry(obl, false);
  printGeometry(lng, false);
  printGeometry(slc, false);
  for (size_t t = 0; t < targets.size(); ++t)
    printGeometry(targets[t], t + 1 == targets.size());
  std::printf("  },\n  \"cases\": [\n");

  const char * interps[3] = { "sitkNearestNeighbor", "sitkLinear", "sitkBSpline" };
  for (const Geometry & t : targets)
  {
    if (t.name.rfind("long/", 0) == 0 || t.name.rfind("slice/", 0) == 0)
    {
      const Geometry & in = t.name[0] == 'l' ? lng : slc;
      for (const char * interp : interps)
      {
        runCase<int16_t>(in, "wide", "int16", t, interp);
        runCase<float>(in, "frac", "float32", t, interp);
      }
      continue;
    }
    const bool        isFlip = t.name.rfind("flipY/", 0) == 0;
    const Geometry &  in = isFlip ? flip : obl;
    const std::string intFormula = isFlip ? "smooth" : "wide";
    for (const char * interp : interps)
    {
      runCase<int16_t>(in, intFormula, "int16", t, interp);
      runCase<float>(in, "frac", "float32", t, interp);
    }
  }
  // Clamping at both ends of uint8, and float64 (no cast at all).
  for (const char * interp : { "sitkLinear", "sitkBSpline" })
    runCase<uint8_t>(flip, "byte", "uint8", targets[0], interp);
  runCase<uint8_t>(flip, "byte", "uint8", targets[3], "sitkBSpline");
  runCase<double>(obl, "frac", "float64", targets[6], "sitkBSpline");
  std::printf("\n  ],\n");

  // End-to-end PyRadiomics resampleImage: 0.78x0.78x1 mm to 2 mm, the z origin index 0.5 making
  // every mask z index a nearest-neighbour tie; axis-aligned (flipped y) and oblique.
  {
    Geometry     ext{ "extFlipY", { -60.2, 31.7, -18.5 }, { 0.78125, 0.78125, 1.0 }, { 1, 0, 0, 0, -1, 0, 0, 0, 1 }, { 40, 36, 14 } };
    Geometry     extObl{ "extOblique", { 12.9, -44.1, 7.25 }, { 0.78125, 0.78125, 1.0 }, {}, { 40, 36, 14 } };
    const long   lo[3] = { 9, 7, 3 }, hi[3] = { 25, 21, 9 };
    const double sp[3] = { 2, 2, 2 };
    rotation(-12.0 * M_PI / 180.0, 8.0 * M_PI / 180.0, extObl.dir);
    std::printf("  \"extractions\": [\n");
    runExtraction(ext, "wide", lo, hi, 5, sp, false);
    runExtraction(extObl, "smooth", lo, hi, 5, sp, true);
    std::printf("  ],\n  \"extraction_geometries\": {\n");
    printGeometry(ext, false);
    printGeometry(extObl, true);
    std::printf("  },\n");
  }
  printInverses();
  std::printf("}\n");
  return 0;
}

// ITK reference filter for gen_fixtures.py --itk-binary (optional; needs Debian's
// libinsighttoolkit5-dev). Reads a raw little-endian float64 volume (x fastest), writes the
// filtered volume in the same form.
//
//   g++ -O2 -std=c++17 -I/usr/include/ITK-5.2 gen_itk_reference.cxx -o itkref -L/usr/lib \
//     -lITKSmoothing-5.2 -lITKCommon-5.2 -litksys-5.2 -litkvnl_algo-5.2 -litkvnl-5.2 \
//     -litkv3p_netlib-5.2 -lpthread
//
//   itkref in.raw out.raw nx ny nz sx sy sz sigma
//
// sigma > 0: LaplacianRecursiveGaussianImageFilter with NormalizeAcrossScale on (PyRadiomics'
// LoG); sigma <= 0: GradientMagnitudeImageFilter with image spacing (PyRadiomics' gradient).
#include "itkGradientMagnitudeImageFilter.h"
#include "itkImage.h"
#include "itkLaplacianRecursiveGaussianImageFilter.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

int main(int argc, char ** argv)
{
  if (argc != 10)
  {
    return 2;
  }
  using ImageType = itk::Image<double, 3>;
  const int    nx = std::atoi(argv[3]), ny = std::atoi(argv[4]), nz = std::atoi(argv[5]);
  const double spacing[3] = { std::atof(argv[6]), std::atof(argv[7]), std::atof(argv[8]) };
  const double sigma = std::atof(argv[9]);
  const size_t n = size_t(nx) * ny * nz;

  std::vector<double> values(n);
  std::ifstream       in(argv[1], std::ios::binary);
  in.read(reinterpret_cast<char *>(values.data()), n * sizeof(double));

  ImageType::Pointer    image = ImageType::New();
  ImageType::SizeType   size;
  size[0] = nx;
  size[1] = ny;
  size[2] = nz;
  ImageType::RegionType region;
  region.SetSize(size);
  image->SetRegions(region);
  image->Allocate();
  image->SetSpacing(spacing);
  std::copy(values.begin(), values.end(), image->GetBufferPointer());

  ImageType::Pointer result;
  if (sigma > 0)
  {
    auto log = itk::LaplacianRecursiveGaussianImageFilter<ImageType, ImageType>::New();
    log->SetInput(image);
    log->SetNormalizeAcrossScale(true);
    log->SetSigma(sigma);
    log->Update();
    result = log->GetOutput();
  }
  else
  {
    auto grad = itk::GradientMagnitudeImageFilter<ImageType, ImageType>::New();
    grad->SetInput(image);
    grad->SetUseImageSpacing(true);
    grad->Update();
    result = grad->GetOutput();
  }
  std::ofstream out(argv[2], std::ios::binary);
  out.write(reinterpret_cast<const char *>(result->GetBufferPointer()), n * sizeof(double));
  return 0;
}

// NaN propagation as this machine runs it: built for the build host's CPU like native.cpp
// (-march=native with CTNN_NATIVE_ARCH), so the widest SIMD kernels run; a TU of its own to keep
// each test TU's compile time short (whole models: native_nan_models.cpp).
#include "nan_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;

TEST_CASE("native: NaN propagates through the widest kernels and every activation") {
#if CTNN_CPU_FUSED
    test::nan::check_simd<cpu::simd::Native>();
#endif
    test::nan::check_every_activation<float>(device::cpu());
}

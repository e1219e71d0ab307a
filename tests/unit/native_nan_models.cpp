// NaN propagation through whole models as this machine runs them: built for the build host's CPU
// like native.cpp (-march=native with CTNN_NATIVE_ARCH), so the widest SIMD kernels run; the
// kernels and activations alone: native_nan.cpp (each TU's compile time kept short).
#include "nan_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;

TEST_CASE("native: NaN propagates through models (ReLU, its derivative, max pools)") {
    test::nan::check_models<float>(device::cpu());
}

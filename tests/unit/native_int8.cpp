// The int8 GEMM and quantized stages as this machine runs them: built for the build host's CPU
// (-march=native, as the examples and benchmarks are), so that the AVX2 kernel of
// backend/cpu/int8.hpp (and its vectorized quantization) meets the exact checks of
// quantize_checks.hpp, which the portable unit tests (quantize.cpp) run on the portable loops.
#include "quantize_checks.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ctnn::test::int8;

TEST_CASE("native int8: the kernel these cases run") {
#if defined(__AVX2__)
    MESSAGE("int8 GEMM and quantization: AVX2 (vpmaddubsw, vroundps)");
#else
    MESSAGE("int8 GEMM: portable loops");
#endif
    CHECK(true);
}

TEST_CASE("native int8: gemm_s8 equals a naive integer product") { check_gemm_s8(); }

TEST_CASE("native int8: the input quantization gives the rule's codes") { check_quantize_s8(); }

TEST_CASE("native int8: a quantized Dense chain and Conv2D equal the integer references exactly") {
    check_quantized_dense_exact();
    check_quantized_conv_exact();
}

// int8 inference on CUDA in host execution: dp4a's emulation against byte-by-byte products,
// gemm_s8 (kernels/gemm_s8.hpp) against the CPU's int8 GEMM (backend/cpu/int8.hpp), which must
// agree exactly (integer sums), and a QuantizedModel on CUDA (cuda/eval/int8.hpp: quantize_rows,
// im2col_s8, the dequantizing stores) against the same model on the CPU. nvcc compiles the
// kernels for sm_87 and sm_90 (tests/cuda/kernels.cu).
#define CTNN_HOST_EXECUTION 1 // as cuda_checks.hpp defines it (the precompiled header's group)
#include <ctnn/ctnn.hpp>

#include <ctnn/backend/cpu/int8.hpp>
#include <ctnn/backend/cuda/kernels/gemm_s8.hpp>

#include "quantize_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

std::int32_t word(std::int8_t b0, std::int8_t b1, std::int8_t b2, std::int8_t b3) {
    const std::int8_t b[4] = {b0, b1, b2, b3};
    std::int32_t w;
    std::memcpy(&w, b, 4); // the bytes in memory order, as a kernel reads 4 int8 as one word
    return w;
}

} // namespace

TEST_CASE("dp4a (host execution): c plus the products of the signed bytes, in memory order") {
    using ctnn::cuda::dp4a;
    CHECK(dp4a(word(1, 2, 3, 4), word(5, 6, 7, 8), 10) == 10 + 5 + 12 + 21 + 32);
    CHECK(dp4a(word(-1, 0, 0, 0), word(7, 0, 0, 0), 0) == -7);
    CHECK(dp4a(word(0, 0, 0, -128), word(0, 0, 0, -128), 0) == 16384); // the largest product
    CHECK(dp4a(word(-128, -128, -128, -128), word(-128, -128, -128, -128), 1) == 65537);
    CHECK(dp4a(word(127, -127, 127, -127), word(-127, 127, -127, 127), 0) == -4 * 16129);
    // Wraps as the PTX does (modulo 2^32).
    CHECK(dp4a(word(1, 0, 0, 0), word(1, 0, 0, 0), std::numeric_limits<std::int32_t>::max()) ==
          std::numeric_limits<std::int32_t>::min());
    std::mt19937 gen(5);
    std::uniform_int_distribution<int> byte(-128, 127);
    for (int trial = 0; trial < 200; ++trial) {
        std::int8_t a[4], b[4];
        std::int32_t want = trial;
        for (int i = 0; i < 4; ++i) {
            a[i] = static_cast<std::int8_t>(byte(gen));
            b[i] = static_cast<std::int8_t>(byte(gen));
            want += a[i] * b[i];
        }
        CHECK(dp4a(word(a[0], a[1], a[2], a[3]), word(b[0], b[1], b[2], b[3]), trial) == want);
    }
}

TEST_CASE("gemm_s8 on CUDA (host execution) equals the CPU's int8 GEMM exactly") {
    for (const std::uint32_t M : {1u, 17u, 70u})
        for (const std::uint32_t N : {1u, 10u, 65u})
            for (const std::uint32_t K : {1u, 31u, 33u, 130u}) {
                CAPTURE(M);
                CAPTURE(N);
                CAPTURE(K);
                const std::uint32_t K4 = (K + 3) / 4, lda = K4 + 1, ldb = K4 + 2;
                // Rows of K int8 in words, zero-padded, with extra words between rows that must
                // not be read (fillers whose dot product is not 0: reading them changes C).
                std::vector<std::int32_t> a(std::size_t{M} * lda, word(9, 9, 9, 9)),
                    b(std::size_t{N} * ldb, word(-9, 9, 9, 9));
                std::vector<std::int8_t> a8(std::size_t{M} * K), b8(std::size_t{N} * K);
                std::mt19937 gen(M * 7 + N * 13 + K);
                std::uniform_int_distribution<int> byte(-127, 127);
                for (auto& v : a8) v = static_cast<std::int8_t>(byte(gen));
                for (auto& v : b8) v = static_cast<std::int8_t>(byte(gen));
                if (K == 130) { // the largest sums: every product -127 x 127
                    std::fill(a8.begin(), a8.end(), std::int8_t{-127});
                    std::fill(b8.begin(), b8.end(), std::int8_t{127});
                }
                const auto pack = [&](std::vector<std::int32_t>& w,
                                      const std::vector<std::int8_t>& v, std::uint32_t rows,
                                      std::uint32_t ld) {
                    for (std::uint32_t r = 0; r < rows; ++r) {
                        std::vector<std::int8_t> row(4 * std::size_t{K4}, 0);
                        std::copy_n(v.begin() + std::ptrdiff_t{r} * K, K, row.begin());
                        std::memcpy(w.data() + std::size_t{r} * ld, row.data(), row.size());
                    }
                };
                pack(a, a8, M, lda);
                pack(b, b8, N, ldb);
                std::vector<std::int32_t> want(std::size_t{M} * N), got(want.size(), 12345);
                ctnn::cpu::gemm_s8(b8.data(), K, a8.data(), K, want.data(), N, N, M, K);
                ctnn::cuda::gemm_s8(M, N, K4, a.data(), lda, b.data(), ldb,
                                    ctnn::cuda::StoreEpilogue<std::int32_t>{got.data(), N});
                CHECK(got == want);
            }
}

namespace {

/// Net quantized from a model initialized with `seed` (BatchNorm statistics from a few training
/// passes), on the CPU and on CUDA: the largest |CUDA - CPU| output over the largest |CPU| one,
/// for a batch of 9 samples partly beyond the calibration range (saturating codes).
template <class Net>
double cuda_vs_cpu(std::uint64_t seed) {
    using namespace ctnn;
    using ctnn::test::int8::uniform_floats;
    Model<Net> m(device::cpu());
    m.init(seed);
    if constexpr (Net::buffer_count > 0) {
        const auto warm = uniform_floats(32 * Net::in_size, seed + 1, -1.0, 1.0);
        for (int i = 0; i < 3; ++i) m.forward(warm, Mode::training);
    }
    const auto calib = uniform_floats(64 * Net::in_size, seed + 2, -1.0, 1.0);
    const QuantizedModel<Net> cpu = quantize(m, calib);
    QuantizedModel<Net> gpu = cpu;
    gpu.to(device::cuda());
    CHECK(gpu.device().kind == Device::Kind::cuda);
    QuantizedModel<Net> on_cpu = cpu;
    const auto x = uniform_floats(9 * Net::in_size, seed + 3, -1.3, 1.3);
    const auto want = on_cpu.predict(x);
    const auto got = gpu.predict(x);
    REQUIRE(got.size() == want.size());
    return ctnn::test::int8::largest_relative_difference(got, want);
}

} // namespace

TEST_CASE("a QuantizedModel on CUDA (host execution) gives the CPU's outputs: MLP and CNN") {
    using namespace ctnn;
    // Widths that are not multiples of 4 (rows padded to words), a BatchNorm folded into the
    // int8 Dense's store, a Residual's join fused into it.
    using Mlp = Sequential<Input<37>, Dense<48>, BatchNorm, ReLU, Residual<Dense<48>, Tanh>,
                           Dense<33>, ReLU, Dense<10>>;
    // Padding, stride, groups, a folded BatchNorm and pools after int8 convolutions (their own
    // kernels, not the float path's pooled store).
    using Cnn = Sequential<Input<3, 10, 10>, Conv2D<8, 3, Same>, BatchNorm, ReLU, MaxPool2D<2>,
                           Conv2D<6, 3, Padding<1>, Stride<2>, Groups<2>, NoBias>, ReLU,
                           AvgPool2D<3>, Flatten, Dense<7>>;
    const double mlp = cuda_vs_cpu<Mlp>(80);
    const double cnn = cuda_vs_cpu<Cnn>(90);
    MESSAGE("QuantizedModel, CUDA (host execution) vs CPU, largest difference / largest output: "
            "MLP "
            << mlp << ", CNN " << cnn);
    // The integer sums are equal; the float tails (dequantize, bias, folded BatchNorm, epilogue)
    // are the same operations in the same order here, so host execution reproduces the CPU's
    // outputs exactly.
    CHECK(mlp == 0.0);
    CHECK(cnn == 0.0);
}

TEST_CASE("a QuantizedModel on CUDA: quantize() of a CUDA model, copies, NaN named, back to CPU") {
    using namespace ctnn;
    using ctnn::test::int8::uniform_floats;
    using Net = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, Flatten, Dense<5>>;
    Model<Net> m(device::cuda());
    m.init(100);
    const auto calib = uniform_floats(20 * Net::in_size, 101, -1.0, 1.0);
    QuantizedModel<Net> q = quantize(m, calib);
    CHECK(q.device().kind == Device::Kind::cuda); // where the source model is
    CHECK(q.describe().find("int8 post-training quantization on cuda") != std::string::npos);
    const auto x = uniform_floats(4 * Net::in_size, 102, -1.0, 1.0);
    const auto y = q.predict(x);
    QuantizedModel<Net> copy = q; // its own device state
    CHECK(copy.device().kind == Device::Kind::cuda);
    CHECK(copy.predict(x) == y);
    std::vector<float> labels_like(4 * Net::out_size, 0.0f);
    CHECK(std::isfinite(q.loss(loss::MSE{}, {{}, labels_like})));

    std::vector<float> bad = x;
    bad[7] = std::numeric_limits<float>::quiet_NaN();
    // Counted on the device, reported after the pass with the stage and the count, as the CPU.
    CHECK_THROWS_WITH_AS(q.forward(bad), doctest::Contains("(layer 0) has 1 NaN value(s)"),
                         numeric_error);
    CHECK(q.predict(x) == y); // the counters start at 0 again

    q.to(device::cpu());
    CHECK(q.device().kind == Device::Kind::cpu);
    const auto y_cpu = q.predict(x);
    REQUIRE(y_cpu.size() == y.size());
    for (std::size_t i = 0; i < y.size(); ++i)
        CHECK(y_cpu[i] == doctest::Approx(y[i]).epsilon(1e-5));
    CHECK_THROWS_AS(q.to(device::cuda(1)), argument_error); // host execution has cuda:0 only
    CHECK(q.device().kind == Device::Kind::cpu);
}

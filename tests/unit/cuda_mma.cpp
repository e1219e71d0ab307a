// Host execution of the tensor-core instructions (backend/cuda/mma.hpp, host/mma.hpp):
// ldmatrix's and mma.sync m16n8k16's per-thread fragment layouts as the PTX ISA gives them, for
// f16 and bf16; a whole warp's D = A B + C through shared memory and ldmatrix, exactly; and the
// refusal of a warp without all 32 lanes. The kernels are in tests/cuda/test_kernels.cuh, which
// nvcc compiles for sm_87 and sm_90 too (tests/cuda/kernels.cu).
//
// ctnn's other headers come first: kernel headers define the CUDA spellings as macros in host mode.
#include <ctnn/ctnn.hpp>

#include "../cuda/test_kernels.cuh"

#include <ctnn/backend/cuda/kernels/gemm_mma.hpp>
#include <ctnn/backend/cuda/launch.hpp>

#include <doctest/doctest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using ctnn::cuda::launch;
using ctnn::cuda::MmaInput;

namespace {

/// The 16-bit encoding of v, which must be exactly representable (zero or normal): IEEE half or
/// bfloat16.
std::uint16_t encode(float v, MmaInput type) {
    const auto bits = std::bit_cast<std::uint32_t>(v);
    if (type == MmaInput::bf16) {
        REQUIRE((bits & 0xFFFFu) == 0u); // exactly representable in bfloat16
        return static_cast<std::uint16_t>(bits >> 16);
    }
    if (v == 0.0f) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t exp = (bits >> 23) & 0xFFu, man = bits & 0x7FFFFFu;
    REQUIRE(exp >= 113u); // a normal half
    REQUIRE(exp <= 142u);
    REQUIRE((man & 0x1FFFu) == 0u); // 10 bits of mantissa
    return static_cast<std::uint16_t>(((bits >> 16) & 0x8000u) | ((exp - 112u) << 10) |
                                      (man >> 13));
}

/// Deterministic values k / 8 with k in [-16, 16]: exact in f16 and bf16, and every product and
/// partial sum of a 16-term dot product plus C is a multiple of 1 / 64 below 2^10, exact in f32,
/// so the hardware's summation order does not matter and D is compared exactly.
std::vector<float> eighths(std::size_t n, std::uint32_t seed) {
    std::vector<float> v(n);
    std::uint32_t s = seed;
    for (float& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(static_cast<int>((s >> 16) % 33u) - 16) / 8.0f;
    }
    return v;
}

template <MmaInput Input, bool TransB>
void check_mma_tile() {
    CAPTURE(Input == MmaInput::f16 ? "f16" : "bf16");
    CAPTURE(TransB);
    const std::vector<float> A = eighths(16 * 16, 1), B = eighths(16 * 8, 2),
                             C = eighths(16 * 8, 3);
    std::vector<std::uint16_t> a(16 * 16), b(16 * 8);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = encode(A[i], Input);
    for (std::size_t k = 0; k < 16; ++k)
        for (std::size_t n = 0; n < 8; ++n) // B (16 x 8) row-major, or B^T (8 x 16) row-major
            b[TransB ? k * 8 + n : n * 16 + k] = encode(B[k * 8 + n], Input);
    std::vector<float> d(16 * 8, -1.0f);
    launch(&ctnn_test::mma_tile<Input, TransB>, 1, 32, 0, nullptr, a.data(), b.data(), C.data(),
           d.data());
    for (std::size_t m = 0; m < 16; ++m)
        for (std::size_t n = 0; n < 8; ++n) {
            double want = C[m * 8 + n];
            for (std::size_t k = 0; k < 16; ++k) want += double{A[m * 16 + k]} * B[k * 8 + n];
            CAPTURE(m);
            CAPTURE(n);
            CHECK(d[m * 8 + n] == static_cast<float>(want));
        }
}

} // namespace

TEST_CASE("host execution: 16-bit elements decode as IEEE half and bfloat16") {
    using ctnn::cuda::host::decode;
    CHECK(decode(0x3C00u, MmaInput::f16) == 1.0f);
    CHECK(decode(0xC000u, MmaInput::f16) == -2.0f);
    CHECK(decode(0x7BFFu, MmaInput::f16) == 65504.0f);              // largest half
    CHECK(decode(0x0001u, MmaInput::f16) == std::ldexp(1.0f, -24)); // smallest subnormal
    CHECK(std::isinf(decode(0x7C00u, MmaInput::f16)));
    CHECK(std::isnan(decode(0x7E00u, MmaInput::f16)));
    CHECK(decode(0x3F80u, MmaInput::bf16) == 1.0f);
    CHECK(decode(0xC2F7u, MmaInput::bf16) == -123.5f);
    for (const float v : eighths(64, 9)) {
        CHECK(decode(encode(v, MmaInput::f16), MmaInput::f16) == v);
        CHECK(decode(encode(v, MmaInput::bf16), MmaInput::bf16) == v);
    }
}

TEST_CASE("host execution: ldmatrix gives each lane the PTX ISA's fragment of each 8 x 8 matrix") {
    // Matrix j is rows 8j .. 8j + 7 of a 32 x 8 array; element (r, c) of the array holds r * 8 + c.
    std::vector<std::uint16_t> m(32 * 8);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::uint16_t>(i);
    for (const bool trans : {false, true}) {
        CAPTURE(trans);
        std::vector<std::uint32_t> out(32 * 4, 0xDEADBEEFu);
        if (trans) launch(&ctnn_test::ldmatrix_dump<true>, 1, 32, 0, nullptr, m.data(), out.data());
        else launch(&ctnn_test::ldmatrix_dump<false>, 1, 32, 0, nullptr, m.data(), out.data());
        for (unsigned l = 0; l < 32; ++l)
            for (unsigned j = 0; j < 4; ++j) {
                // Lane l holds row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 (low half first);
                // .trans: column l / 4, rows 2 (l % 4) and 2 (l % 4) + 1.
                const unsigned r = trans ? 2 * (l % 4) : l / 4, c = trans ? l / 4 : 2 * (l % 4);
                const std::uint32_t lo = m[(8 * j + r) * 8 + c];
                const std::uint32_t hi =
                    trans ? m[(8 * j + r + 1) * 8 + c] : m[(8 * j + r) * 8 + c + 1];
                CAPTURE(l);
                CAPTURE(j);
                CHECK(out[l * 4 + j] == (lo | (hi << 16)));
            }
    }
}

TEST_CASE("host execution: mma.sync m16n8k16 through ldmatrix computes A B + C exactly") {
    check_mma_tile<MmaInput::f16, false>();
    check_mma_tile<MmaInput::f16, true>();
    check_mma_tile<MmaInput::bf16, false>();
    check_mma_tile<MmaInput::bf16, true>();
}

TEST_CASE("host execution: mma.sync's fragments follow the PTX ISA lane by lane") {
    // The layouts of host/mma.hpp applied by hand: lane (groupID g, threadID_in_group t) gives
    // A(g + 8 (i / 2 % 2), 2t + i % 2 + 8 (i / 4)), B(2t + i % 2 + 8 (i / 2), g), C(g + 8 (i / 2),
    // 2t + i % 2). A single nonzero A(m, k) and B(k, n) must land in D(m, n) only.
    using ctnn::cuda::host::detail::MmaLane;
    for (const unsigned m : {0u, 5u, 8u, 15u})
        for (const unsigned k : {0u, 3u, 9u, 14u})
            for (const unsigned n : {0u, 6u, 7u}) {
                MmaLane lanes[32]{};
                MmaLane* ptr[32];
                for (unsigned l = 0; l < 32; ++l) {
                    ptr[l] = &lanes[l];
                    const unsigned g = l / 4, t = l % 4;
                    for (unsigned i = 0; i < 8; ++i)
                        if (g + 8 * ((i / 2) % 2) == m && 2 * t + i % 2 + 8 * (i / 4) == k)
                            lanes[l].a[i / 2] |= std::uint32_t{0x4000u} << (16 * (i % 2)); // 2
                    for (unsigned i = 0; i < 4; ++i)
                        if (2 * t + i % 2 + 8 * (i / 2) == k && g == n)
                            lanes[l].b[i / 2] |= std::uint32_t{0x4200u} << (16 * (i % 2)); // 3
                }
                ctnn::cuda::host::detail::mma_m16n8k16(ptr, MmaInput::f16);
                for (unsigned l = 0; l < 32; ++l)
                    for (unsigned i = 0; i < 4; ++i) {
                        const unsigned row = l / 4 + 8 * (i / 2), col = 2 * (l % 4) + i % 2;
                        CHECK(lanes[l].d[i] == (row == m && col == n ? 6.0f : 0.0f));
                    }
            }
}

TEST_CASE("host execution: mma.sync and ldmatrix need all 32 lanes of the warp") {
    std::vector<std::uint16_t> a(16 * 16), b(16 * 8);
    std::vector<float> c(16 * 8), d(16 * 8);
    std::string e;
    try {
        launch(&ctnn_test::mma_tile<MmaInput::f16, false>, 1, 16, 0, nullptr, a.data(), b.data(),
               c.data(), d.data());
    } catch (const ctnn::cuda_error& x) {
        e = x.what();
    }
    CHECK(e.find("ldmatrix.sync.aligned.m8n8") != std::string::npos);
    CHECK(e.find("needs all 32 lanes") != std::string::npos);
}

TEST_CASE("host execution: round_to_mma_input rounds to nearest even as cvt.rn does") {
    using ctnn::cuda::round_to_mma_input;
    using ctnn::cuda::host::decode;
    constexpr auto bf16 = MmaInput::bf16, f16 = MmaInput::f16;
    const auto p2 = [](int e) { return std::ldexp(1.0f, e); };
    CHECK(round_to_mma_input<bf16>(1.0f) == 0x3F80u);
    CHECK(round_to_mma_input<bf16>(1.0f + p2(-8)) == 0x3F80u);     // a tie: to the even 1
    CHECK(round_to_mma_input<bf16>(1.0f + 3 * p2(-8)) == 0x3F82u); // a tie: to the even 1 + 2^-6
    CHECK(round_to_mma_input<bf16>(1.0f + p2(-8) + p2(-20)) == 0x3F81u);
    CHECK(round_to_mma_input<bf16>(-0.0f) == 0x8000u);
    CHECK(round_to_mma_input<bf16>(std::numeric_limits<float>::max()) == 0x7F80u); // to infinity
    CHECK(std::isnan(decode(round_to_mma_input<bf16>(std::nanf("")), bf16)));
    CHECK(round_to_mma_input<f16>(1.0f) == 0x3C00u);
    CHECK(round_to_mma_input<f16>(1.0f + p2(-11)) == 0x3C00u);
    CHECK(round_to_mma_input<f16>(1.0f + 3 * p2(-11)) == 0x3C02u);
    CHECK(round_to_mma_input<f16>(-2.0f) == 0xC000u);
    CHECK(round_to_mma_input<f16>(65519.0f) == 0x7BFFu); // below the tie: the largest half
    CHECK(round_to_mma_input<f16>(65520.0f) == 0x7C00u); // the tie rounds to infinity
    CHECK(round_to_mma_input<f16>(p2(-24)) == 0x0001u);  // the smallest subnormal
    CHECK(round_to_mma_input<f16>(p2(-25)) == 0x0000u);  // half of it: a tie, to even 0
    CHECK(round_to_mma_input<f16>(3 * p2(-26)) == 0x0001u);
    CHECK(round_to_mma_input<f16>(p2(-14) - p2(-25)) == 0x0400u); // rounds up into the normals
    CHECK(round_to_mma_input<f16>(std::numeric_limits<float>::infinity()) == 0x7C00u);
    CHECK(std::isnan(decode(round_to_mma_input<f16>(std::nanf("")), f16)));
    // Nearest: for random floats, neither neighbour of the result is closer.
    std::mt19937 gen(11);
    std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
    std::uniform_int_distribution<int> expo(-26, 15);
    for (int i = 0; i < 4000; ++i) {
        const float v = std::ldexp(mant(gen), expo(gen));
        for (const MmaInput type : {f16, bf16}) {
            const std::uint16_t r =
                type == f16 ? round_to_mma_input<f16>(v) : round_to_mma_input<bf16>(v);
            const double err = std::fabs(double{decode(r, type)} - v);
            const auto mag = static_cast<std::uint16_t>(r & 0x7FFFu);
            for (const int step : {-1, 1}) {
                if (mag == 0 && step < 0) continue;
                const auto other =
                    static_cast<std::uint16_t>((r & 0x8000u) | static_cast<unsigned>(mag + step));
                const float o = decode(other, type);
                if (std::isfinite(o)) CHECK(err <= std::fabs(double{o} - v));
            }
        }
    }
}

namespace {

/// gemm_mma against the product of the rounded operands in double (within f32 summation) and
/// against the exact product of the float operands (within the inputs' rounding).
template <MmaInput Input, bool TransA, bool TransB>
void check_gemm_mma(std::uint32_t M, std::uint32_t N, std::uint32_t K, bool ones_column) {
    CAPTURE(Input == MmaInput::f16 ? "f16" : "bf16");
    CAPTURE(TransA);
    CAPTURE(TransB);
    CAPTURE(M);
    CAPTURE(N);
    CAPTURE(K);
    CAPTURE(ones_column);
    const std::uint32_t lda = (TransA ? M : K) + 3, ldb = (TransB ? K : N) + 2;
    const std::uint32_t stored = ones_column ? N - 1 : N; // B's columns in memory
    std::mt19937 gen(M * 131 + N * 17 + K);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> a(std::size_t{TransA ? K : M} * lda + 1),
        b(std::size_t{TransB ? N : K} * ldb + 1);
    for (float& x : a) x = u(gen);
    for (float& x : b) x = u(gen);
    const auto A = [&](std::uint32_t m, std::uint32_t k) {
        return TransA ? a[std::size_t{k} * lda + m] : a[std::size_t{m} * lda + k];
    };
    const auto B = [&](std::uint32_t k, std::uint32_t n) {
        if (n >= stored) return 1.0f;
        return TransB ? b[std::size_t{n} * ldb + k] : b[std::size_t{k} * ldb + n];
    };
    const auto r = [](float v) {
        return double{ctnn::cuda::host::decode(ctnn::cuda::round_to_mma_input<Input>(v), Input)};
    };
    std::vector<float> c(std::size_t{M} * N, std::nanf(""));
    ctnn::cuda::gemm_mma<Input, TransA, TransB>(M, N, K, a.data(), lda, b.data(), ldb,
                                                ctnn::cuda::StoreEpilogue<float>{c.data(), N},
                                                ones_column);
    const double u16 = Input == MmaInput::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
    for (std::uint32_t m = 0; m < M; ++m)
        for (std::uint32_t n = 0; n < N; ++n) {
            double rounded = 0, exact = 0, scale = 0;
            for (std::uint32_t k = 0; k < K; ++k) {
                rounded += r(A(m, k)) * r(B(k, n));
                exact += double{A(m, k)} * B(k, n);
                scale += std::fabs(double{A(m, k)} * B(k, n));
            }
            const double got = c[std::size_t{m} * N + n];
            CAPTURE(m);
            CAPTURE(n);
            REQUIRE(!std::isnan(got)); // every element stored once
            CHECK(std::fabs(got - rounded) <= (K + 1) * std::ldexp(1.0, -24) * 1.1 * scale + 1e-30);
            CHECK(std::fabs(got - exact) <= 2.1 * u16 * scale + 1e-30);
        }
}

} // namespace

TEST_CASE("gemm_mma: tensor-core products in host execution equal the rounded operands' product") {
    // Shapes below, at and past the 64 x 64 x 32 tile; K = 0; the ones column of dW + bias.
    for (const auto& [M, N, K] : {std::array<std::uint32_t, 3>{1, 1, 1},
                                  {17, 9, 5},
                                  {64, 64, 32},
                                  {70, 67, 45},
                                  {33, 130, 100},
                                  {5, 7, 0}}) {
        check_gemm_mma<MmaInput::bf16, false, false>(M, N, K, false);
        check_gemm_mma<MmaInput::bf16, false, true>(M, N, K, false);
        check_gemm_mma<MmaInput::bf16, true, false>(M, N, K, N > 1);
        check_gemm_mma<MmaInput::bf16, true, true>(M, N, K, false);
    }
    for (const auto& [M, N, K] :
         {std::array<std::uint32_t, 3>{17, 9, 5}, {70, 67, 45}, {33, 130, 100}}) {
        check_gemm_mma<MmaInput::f16, false, true>(M, N, K, false);  // forward: X W^T
        check_gemm_mma<MmaInput::f16, false, false>(M, N, K, false); // dX = dZ W
        check_gemm_mma<MmaInput::f16, true, false>(M, N, K, true);   // dW = dZ^T X, bias too
    }
}

TEST_CASE("gemm and gemm_mma refuse a grid larger than CUDA's before launching") {
    // 2^22 x 2^22 is 2^32 tiles of 64 x 64: more than a grid's 2^31 - 1 blocks.
    constexpr std::uint32_t huge = 1u << 22;
    const ctnn::cuda::StoreEpilogue<float> store{nullptr, huge};
    const auto message = [](const auto& call) {
        try {
            call();
        } catch (const ctnn::cuda_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string simt = message([&] {
        ctnn::cuda::gemm<false, false>(huge, huge, 1, static_cast<const float*>(nullptr), 1,
                                       static_cast<const float*>(nullptr), huge, store);
    });
    CHECK(simt.find("gemm: 4194304 x 4194304 in 1 group(s) needs") != std::string::npos);
    CHECK(simt.find("more than a grid holds") != std::string::npos);
    const std::string mma = message([&] {
        ctnn::cuda::gemm_mma<MmaInput::bf16, false, false>(huge, huge, 1, nullptr, 1, nullptr, huge,
                                                           store);
    });
    CHECK(mma.find("gemm_mma: 4194304 x 4194304 in 1 group(s) needs") != std::string::npos);
}

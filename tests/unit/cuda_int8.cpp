// The int8 GEMM of quantized inference on CUDA (kernels/gemm_s8.hpp) in host execution: dp4a's
// emulation against byte-by-byte products, and gemm_s8 against the CPU's int8 GEMM
// (backend/cpu/int8.hpp), which must agree exactly (integer sums). nvcc compiles the same
// instantiations for sm_87 and sm_90 (tests/cuda/kernels.cu).
#define CTNN_HOST_EXECUTION 1 // as cuda_checks.hpp defines it (the precompiled header's group)
#include <ctnn/ctnn.hpp>

#include <ctnn/backend/cpu/int8.hpp>
#include <ctnn/backend/cuda/kernels/gemm_s8.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
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

// Every kernel instantiation of the host-execution tests, compiled by nvcc
// (tests/cuda/CMakeLists.txt).
//
// Each kernel is reached through ctnn::cuda::launch, exactly as tests/unit/cuda_host.cpp launches
// it, so nvcc instantiates the kernels and the launch path. main() launches nothing unless a
// CUDA device is present; without one it reports that and succeeds.
#include <ctnn/graph/lowering.hpp>
#include <ctnn/graph/sequential.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/dropout.hpp>
#include <ctnn/layers/input.hpp>
#include <ctnn/optim/adam.hpp>
#include <ctnn/optim/sgd.hpp>

#include "test_kernels.cuh"

#include <ctnn/backend/cuda/kernels/elementwise.hpp>
#include <ctnn/backend/cuda/kernels/gemm.hpp>
#include <ctnn/backend/cuda/kernels/gemm_mma.hpp>
#include <ctnn/backend/cuda/kernels/gemm_s8.hpp>
#include <ctnn/backend/cuda/kernels/optimizer.hpp>
#include <ctnn/backend/cuda/launch.hpp>

#include <cstdio>

namespace {

/// The elementwise stages of tests/unit/cuda_host.cpp.
using ElementwiseNet =
    ctnn::Sequential<ctnn::Input<37>, ctnn::ReLU, ctnn::Dropout<0.25f>, ctnn::Tanh>;
using DropoutNet = ctnn::Sequential<ctnn::Input<37>, ctnn::Dropout<0.25f>>;
using ElementwiseEpilogue = ctnn::detail::last<ctnn::stages_of<ElementwiseNet>>::type::epilogue;
using DropoutEpilogue = ctnn::detail::last<ctnn::stages_of<DropoutNet>>::type::epilogue;

/// The kernel families of the unit tests, with the tests' template arguments.
void launch_families(float* f) {
    const ctnn::ElemCtx ctx{.seed = 7, .step = 3, .index = 0, .layer = 0, .training = true};
    ctnn::cuda::elementwise_forward<ElementwiseEpilogue>(f, f + 2048, 1110, ctx);
    ctnn::cuda::elementwise_backward<ElementwiseEpilogue>(f, f + 2048, f + 4096, 1110, ctx);
    ctnn::cuda::elementwise_forward<DropoutEpilogue>(f, f + 2048, 1110, ctx);
    ctnn::cuda::elementwise_backward<DropoutEpilogue>(f, f + 2048, f + 4096, 1110, ctx);
    const ctnn::optim::SGD sgd{.lr = 0.1f, .momentum = 0.9f};
    ctnn::cuda::apply_update(sgd, sgd.scalars(0.1f, 1), f, f + 1024, f + 2048,
                             static_cast<float*>(nullptr), 1000);
    const ctnn::optim::Adam adam{};
    ctnn::cuda::apply_update(adam, adam.scalars(1e-3f, 1), f, f + 1024, f + 2048, f + 4096, 1000);
    const ctnn::optim::AdamW adamw{};
    ctnn::cuda::apply_update(adamw, adamw.scalars(1e-3f, 1), f, f + 1024, f + 2048, f + 4096, 1000);
}

/// The gemm instantiations of tests/unit/cuda_host.cpp: the four transpose combinations through
/// GemmRecordEpilogue (float and double), and the executor's three Dense products through
/// StoreEpilogue<float>. Each call instantiates both tile configurations (GemmSmall, GemmLarge).
template <class T>
void launch_gemm_transposes(T* f, unsigned* u) {
    constexpr std::uint32_t M = 20, N = 30, K = 17;
    const ctnn_test::GemmRecordEpilogue<T> epi{f + 2048, u, u + 1000, N + 1, M, N};
    ctnn::cuda::gemm<false, false>(M, N, K, f, K + 3, f + 1024, N + 2, epi);
    ctnn::cuda::gemm<false, true>(M, N, K, f, K + 3, f + 1024, K + 2, epi, true);
    ctnn::cuda::gemm<true, false>(M, N, K, f, M + 3, f + 1024, N + 1, epi, true);
    ctnn::cuda::gemm<true, true>(M, N, K, f, M + 3, f + 1024, K + 2, epi);
}

/// The tensor-core gemm instantiations of tests/unit/cuda_mma.cpp: the four transpose
/// combinations with StoreEpilogue<float>.
template <ctnn::cuda::MmaInput Input>
void launch_gemm_mma(float* f) {
    constexpr std::uint32_t M = 70, N = 67, K = 45;
    using Store = ctnn::cuda::StoreEpilogue<float>;
    ctnn::cuda::gemm_mma<Input, false, false>(M, N, K, f, K + 3, f + 4096, N + 2,
                                              Store{f + 8192, N});
    ctnn::cuda::gemm_mma<Input, false, true>(M, N, K, f, K + 3, f + 4096, K + 2,
                                             Store{f + 8192, N});
    ctnn::cuda::gemm_mma<Input, true, false>(M, N, K, f, M + 3, f + 4096, N + 2, Store{f + 8192, N},
                                             true);
    ctnn::cuda::gemm_mma<Input, true, true>(M, N, K, f, M + 3, f + 4096, K + 2, Store{f + 8192, N});
}

void launch_gemms(float* f, unsigned* u) {
    launch_gemm_transposes(f, u);
    launch_gemm_transposes(reinterpret_cast<double*>(f), u);
    // Dense in -> out, batch B: Z = X W^T, dX = dZ W, dW and db = dZ^T [X 1].
    constexpr std::uint32_t B = 37, in = 29, out = 19;
    const float *x = f, *w = f + 2048, *dz = f + 3072;
    using Store = ctnn::cuda::StoreEpilogue<float>;
    ctnn::cuda::gemm<false, true>(B, out, in, x, in, w, in, Store{f + 4096, out});
    ctnn::cuda::gemm<false, false>(B, in, out, dz, out, w, in, Store{f + 5120, in});
    ctnn::cuda::gemm<true, false>(out, in + 1, B, dz, out, x, in, Store{f + 6400, in + 1}, true);
    launch_gemm_mma<ctnn::cuda::MmaInput::bf16>(f);
    launch_gemm_mma<ctnn::cuda::MmaInput::f16>(f);
    // The int8 GEMM of quantized inference (dp4a; tests/unit/cuda_int8.cpp).
    auto* words = reinterpret_cast<std::int32_t*>(f);
    ctnn::cuda::gemm_s8(70, 65, 33, words, 34, words + 4096, 35,
                        ctnn::cuda::StoreEpilogue<std::int32_t>{words + 8192, 65});
}

/// Launches every test kernel once on the device (arguments are device pointers of sufficient
/// size; used only when a GPU is present).
void launch_all(float* f, int* i, unsigned* u) {
    using ctnn::cuda::launch;
    launch(&ctnn_test::tree_reduce<64>, 6, 64, 0, nullptr, f, f + 512, 380u);
    launch(&ctnn_test::tree_reduce_missing_barrier<64>, 6, 64, 0, nullptr, f, f + 512, 380u);
    launch(&ctnn_test::warp_ops, 2, 64, 0, nullptr, i, i + 128);
    launch(&ctnn_test::warp_sums, 1, 96, 0, nullptr, i, i + 128);
    launch(&ctnn_test::reverse_dynamic, 4, 128, 128 * (sizeof(float) + sizeof(int)), nullptr, f,
           f + 512, i + 128, 448u);
    launch(&ctnn_test::coordinates, ctnn::cuda::dim3(3, 2, 2), ctnn::cuda::dim3(5, 3, 2), 0,
           nullptr, u);
    launch(&ctnn_test::axpb, 3, 1024, 0, nullptr, f, f + 4096, 2065u);
    launch(&ctnn_test::atomics, 5, 64, 0, nullptr, i, 300u, i + 512, 7u, i + 520, i + 521, f, u);
    launch(&ctnn_test::barrier_votes, 1, 40, 0, nullptr, i, i + 64);
    launch(&ctnn_test::block_reductions<1>, 3, 1, 0, nullptr, f, f + 512, 3u);
    // Tensor-core instructions (sm_80 and newer): mma.sync m16n8k16 and ldmatrix.
    const auto* h = reinterpret_cast<const std::uint16_t*>(i);
    launch(&ctnn_test::mma_tile<ctnn::cuda::MmaInput::f16, false>, 1, 32, 0, nullptr, h, h + 256, f,
           f + 256);
    launch(&ctnn_test::mma_tile<ctnn::cuda::MmaInput::f16, true>, 1, 32, 0, nullptr, h, h + 256, f,
           f + 256);
    launch(&ctnn_test::mma_tile<ctnn::cuda::MmaInput::bf16, false>, 1, 32, 0, nullptr, h, h + 256,
           f, f + 256);
    launch(&ctnn_test::ldmatrix_dump<false>, 1, 32, 0, nullptr, h, u);
    launch(&ctnn_test::ldmatrix_dump<true>, 1, 32, 0, nullptr, h, u);
    launch(&ctnn_test::block_reductions<96>, 3, 96, 0, nullptr, f, f + 512, 256u);
    launch(&ctnn_test::block_reductions<256>, 3, 256, 0, nullptr, f, f + 512, 683u);
    // The misuse kernels are deliberately wrong: compiled, never launched.
    (void)&ctnn_test::divergent_barrier;
    (void)&ctnn_test::divergent_shuffle;
    (void)&ctnn_test::bad_shuffle_width;
    (void)&ctnn_test::mismatched_warp_ops;
}

} // namespace

int main() {
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        std::printf("no CUDA device (%s): kernels compiled for the configured architectures, "
                    "not run\n",
                    e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
        return 0;
    }
    float* f = nullptr;
    int* i = nullptr;
    unsigned* u = nullptr;
    CTNN_CUDA_CHECK(cudaMalloc(&f, 16384 * sizeof(float)));
    CTNN_CUDA_CHECK(cudaMalloc(&i, 1024 * sizeof(int)));
    CTNN_CUDA_CHECK(cudaMalloc(&u, 1024 * sizeof(unsigned)));
    launch_all(f, i, u);
    launch_families(f);
    launch_gemms(f, u);
    CTNN_CUDA_CHECK(cudaDeviceSynchronize());
    CTNN_CUDA_CHECK(cudaFree(f));
    CTNN_CUDA_CHECK(cudaFree(i));
    CTNN_CUDA_CHECK(cudaFree(u));
    std::printf("%d CUDA device(s): every test kernel launched\n", devices);
    return 0;
}

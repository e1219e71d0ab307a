// Shared by tests/unit/cuda_mixed.cpp (bf16) and cuda_fp16.cpp (fp16 with loss scaling): a small
// MLP and a reference of what a mixed-precision model computes for it, in double where the GPU
// sums in fp32, with every GEMM operand rounded to the 16-bit format as the tensor cores read it.
#pragma once
#include <ctnn/backend/cuda/host/mma.hpp>
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ctnn::test::mixed_checks {

/// v rounded to format f (bf16 or fp16; nearest even), as the tensor-core GEMM reads its operands.
inline double rounded(float v, GemmOperands f) {
    using cuda::host::MmaInput;
    const MmaInput in = f == GemmOperands::fp16 ? MmaInput::f16 : MmaInput::bf16;
    return double(cuda::host::decode(cuda::host::round_to(v, in), in));
}

constexpr std::size_t n_in = 40, n_hidden = 24, n_out = 10, batch = 37;
using Mlp = Sequential<Input<n_in>, Dense<n_hidden>, ReLU, Dense<n_out>>;

/// What a mixed model computes for Mlp and cross-entropy, in double where the GPU sums in fp32:
/// outputs, and the gradients of the mean loss.
struct Reference {
    std::vector<float> y, grads;
    /// The largest sum_k |a_k b_k| of a product, per output (the scale of fp32 summation error).
    std::vector<double> y_scale, grad_scale;
};

/// The reference for parameters p, input x and labels with GEMM operands in format f, and the
/// backward pass seeded with the loss gradient times loss_scale (a power of two: an fp16
/// model's loss scaling, whose gradients are divided by it again).
inline Reference reference(std::span<const float> p, std::span<const float> x,
                           std::span<const std::int32_t> labels,
                           GemmOperands f = GemmOperands::bf16, float loss_scale = 1.0f) {
    const auto r = [f](float v) { return rounded(v, f); };
    const float* w1 = p.data();
    const float* b1 = w1 + n_in * n_hidden;
    const float* w2 = b1 + n_hidden;
    const float* b2 = w2 + n_hidden * n_out;
    Reference ref;
    std::vector<float> z1(batch * n_hidden), h(batch * n_hidden);
    ref.y.resize(batch * n_out);
    ref.y_scale.resize(batch * n_out);
    ref.grads.assign(p.size(), 0.0f);
    ref.grad_scale.assign(p.size(), 0.0);
    for (std::size_t b = 0; b < batch; ++b) {
        for (std::size_t j = 0; j < n_hidden; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < n_in; ++k) s += r(w1[j * n_in + k]) * r(x[b * n_in + k]);
            z1[b * n_hidden + j] = float(s) + b1[j];
            h[b * n_hidden + j] = std::max(z1[b * n_hidden + j], 0.0f);
        }
        for (std::size_t o = 0; o < n_out; ++o) {
            double s = 0, a = 0;
            for (std::size_t k = 0; k < n_hidden; ++k) {
                s += r(w2[o * n_hidden + k]) * r(h[b * n_hidden + k]);
                a += std::fabs(r(w2[o * n_hidden + k]) * r(h[b * n_hidden + k]));
            }
            ref.y[b * n_out + o] = float(s) + b2[o];
            ref.y_scale[b * n_out + o] = a;
        }
    }
    // Cross-entropy of the mean: dZ2 = (softmax(y) - onehot) S / batch, in fp32 as the loss kernel.
    std::vector<float> dz2(batch * n_out), dz1(batch * n_hidden);
    for (std::size_t b = 0; b < batch; ++b) {
        const float* yb = &ref.y[b * n_out];
        const double m = *std::max_element(yb, yb + n_out);
        double sum = 0;
        for (std::size_t o = 0; o < n_out; ++o) sum += std::exp(double(yb[o]) - m);
        for (std::size_t o = 0; o < n_out; ++o) {
            const double sm = std::exp(double(yb[o]) - m) / sum;
            dz2[b * n_out + o] = float((sm - (std::int32_t(o) == labels[b] ? 1.0 : 0.0)) *
                                       double(loss_scale) / double(batch));
        }
    }
    // A Dense layer's weight and bias gradients from its dZ [batch, n_o] and input a [batch, n_i]:
    // dW = r(dZ)^T r(a), db = sum r(dZ) (the ones column), at offset `at` of the gradients.
    const auto layer_grads = [&](const std::vector<float>& dz, std::span<const float> a,
                                 std::size_t n_o, std::size_t n_i, std::size_t at) {
        for (std::size_t o = 0; o < n_o; ++o) {
            for (std::size_t k = 0; k <= n_i; ++k) { // k == n_i: the bias
                double s = 0, m = 0;
                for (std::size_t b = 0; b < batch; ++b) {
                    const double v = r(dz[b * n_o + o]) * (k < n_i ? r(a[b * n_i + k]) : 1.0);
                    s += v;
                    m += std::fabs(v);
                }
                const std::size_t i = k < n_i ? at + o * n_i + k : at + n_o * n_i + o;
                ref.grads[i] = float(s) * (1.0f / loss_scale);
                ref.grad_scale[i] = m / double(loss_scale);
            }
        }
    };
    // Layer 2; then dH = r(dZ2) r(W2), x ReLU' = dZ1; layer 1.
    layer_grads(dz2, h, n_out, n_hidden, n_in * n_hidden + n_hidden);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t k = 0; k < n_hidden; ++k) {
            double s = 0;
            for (std::size_t o = 0; o < n_out; ++o)
                s += r(dz2[b * n_out + o]) * r(w2[o * n_hidden + k]);
            dz1[b * n_hidden + k] = z1[b * n_hidden + k] > 0.0f ? float(s) : 0.0f;
        }
    layer_grads(dz1, x, n_hidden, n_in, 0);
    return ref;
}

/// How many of got[i] are farther from want[i] than fp32 summation allows (a few float rounding
/// errors of each sum, scale[i] = sum |a_k b_k|, plus the float stores and one bf16 rounding of a
/// stored value read again: 2^-20 of the scale covers them, bf16's own 2^-8 does not).
inline std::size_t outside(std::span<const float> got, std::span<const float> want,
                           std::span<const double> scale) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double tol = 1e-9 + std::ldexp(scale[i], -20) + 1e-6 * std::fabs(double(want[i]));
        if (std::fabs(double(got[i]) - double(want[i])) > tol) {
            if (bad == 0) INFO("first at " << i << ": " << got[i] << " vs " << want[i]);
            ++bad;
        }
    }
    return bad;
}

} // namespace ctnn::test::mixed_checks

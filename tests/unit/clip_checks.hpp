// Shared by tests/unit/optim.cpp (fused and Eigen CPU executors) and tests/unit/nan_cuda.cpp (CUDA
// kernels by host execution): Model::clip_grad_norm and TrainOptions::clip_grad_norm against
// PyTorch's torch.nn.utils.clip_grad_norm_ computed by hand.
#pragma once
#include "nan_checks.hpp"

#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace ctnn::test::clip {

// values() and bitwise_equal() are nan_checks.hpp's.
using nan::bitwise_equal;
using nan::values;

/// One forward, MSE loss and backward of `batch` samples (x[0] replaced by `first` if given).
template <class Net, class T>
void backward_once(Model<Net, T>& m, std::size_t batch, T first = T(0.25)) {
    std::vector<T> x = values<T>(batch * Net::in_size, 0.3);
    const std::vector<T> t = values<T>(batch * Net::out_size, 1.7);
    x[0] = first;
    (void)m.forward(x, batch, Mode::training);
    (void)m.loss(loss::MSE{}, {.values = t});
    m.backward();
}

/// clip_grad_norm on a model on `dev`: the norm, the scaled gradients, and the update using them.
template <class Net, class T>
void check_clip(Device dev) {
    Model<Net, T> m(dev), ref(device::cpu());
    m.init(5);
    ref.init(5);
    backward_once(m, 3);
    backward_once(ref, 3);
    const std::span<const T> gs = std::as_const(m).gradients();
    const std::vector<T> g(gs.begin(), gs.end());
    double sum = 0;
    for (const T v : g) sum += static_cast<double>(v) * static_cast<double>(v);
    const double norm = std::sqrt(sum);
    REQUIRE(norm > 0.1);

    // At or below the limit: the norm, and the gradients bit for bit.
    CHECK(m.clip_grad_norm(static_cast<float>(2 * norm)) == static_cast<float>(norm));
    CHECK(bitwise_equal(std::as_const(m).gradients(), g));

    // Above: every gradient times max_norm / (norm + 1e-6), PyTorch's clip_grad_norm_.
    const float max_norm = static_cast<float>(norm / 4);
    CHECK(clip_grad_norm(m, max_norm) == static_cast<float>(norm));
    const T scale = static_cast<T>(static_cast<double>(max_norm) / (norm + 1e-6));
    const std::span<const T> clipped = std::as_const(m).gradients();
    REQUIRE(clipped.size() == g.size());
    double after = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        CHECK(clipped[i] == g[i] * scale);
        after += static_cast<double>(clipped[i]) * static_cast<double>(clipped[i]);
    }
    CHECK(std::sqrt(after) == doctest::Approx(max_norm).epsilon(1e-5));

    // The update applies the clipped gradients (written back to the device or the fused
    // executor): plain SGD, p - lr * g.
    const std::vector<T> p0(std::as_const(m).parameters().begin(),
                            std::as_const(m).parameters().end());
    auto st = m.make_state(optim::SGD{.lr = 0.5f});
    m.update(st);
    const std::span<const T> p1 = std::as_const(m).parameters();
    for (std::size_t i = 0; i < g.size(); ++i)
        CHECK(static_cast<double>(p1[i]) ==
              doctest::Approx(static_cast<double>(p0[i]) - 0.5 * static_cast<double>(g[i] * scale))
                  .epsilon(1e-5));

    // A NaN gradient: the norm is NaN and the gradients are left as they are.
    backward_once(m, 3, std::numeric_limits<T>::quiet_NaN());
    const std::span<const T> ns = std::as_const(m).gradients();
    const std::vector<T> nan_g(ns.begin(), ns.end());
    CHECK(std::isnan(m.clip_grad_norm(1.0f)));
    CHECK(bitwise_equal(std::as_const(m).gradients(), nan_g));

    // max_norm must be positive.
    CHECK_THROWS_AS(m.clip_grad_norm(0.0f), argument_error);
    CHECK_THROWS_AS(m.clip_grad_norm(-1.0f), argument_error);
}

/// train() with TrainOptions::clip_grad_norm matches forward, loss, backward, clip, update by
/// hand, bit for bit; a negative limit is refused.
template <class Net, class T>
void check_train_clip(Device dev) {
    Dataset d;
    d.feature_count = Net::in_size;
    d.target_count = Net::out_size;
    const std::vector<T> xs = values<T>(8 * Net::in_size, 0.9),
                         ts = values<T>(8 * Net::out_size, 2.1);
    for (const T v : xs) d.features.push_back(static_cast<float>(v));
    for (const T v : ts) d.targets.push_back(static_cast<float>(v));
    const optim::SGD sgd{.lr = 0.1f};
    const float limit = 0.05f; // below the gradients' norm: every step clips
    Model<Net, T> trained(dev), by_hand(dev);
    trained.init(4);
    by_hand.init(4);
    (void)train(trained, d, loss::MSE{}, sgd,
                {.epochs = 2,
                 .batch = 4,
                 .shuffle = false,
                 .progress = Progress::silent,
                 .clip_grad_norm = limit});
    auto state = by_hand.make_state(sgd);
    std::vector<T> x(4 * Net::in_size), t(4 * Net::out_size);
    for (std::size_t step = 0; step < 4; ++step) {
        const std::size_t b0 = (step % 2) * 4;
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = static_cast<T>(d.features[b0 * Net::in_size + i]);
        for (std::size_t i = 0; i < t.size(); ++i)
            t[i] = static_cast<T>(d.targets[b0 * Net::out_size + i]);
        (void)by_hand.forward(x, 4, Mode::training);
        (void)by_hand.loss(loss::MSE{}, {.values = t});
        by_hand.backward();
        CHECK(by_hand.clip_grad_norm(limit) > limit);
        by_hand.update(state);
    }
    CHECK(bitwise_equal(std::as_const(trained).parameters(), std::as_const(by_hand).parameters()));
    CHECK_THROWS_AS(train(trained, d, loss::MSE{}, sgd,
                          {.progress = Progress::silent, .clip_grad_norm = -1.0f}),
                    argument_error);
}

} // namespace ctnn::test::clip

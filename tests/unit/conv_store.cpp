// Convolution with the pooling in its store (inference and training), batch 1 on several
// threads, and a convolution by hand. The rest of conv.cpp's checks: conv.cpp (a TU of its own
// to keep each test TU's compile time short).
#include "conv_checks.hpp"
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;
using ctnn::test::random_values;
using namespace ctnn::test;

TEST_CASE("Conv2D, ReLU, MaxPool2D<2> in inference: the pool runs in the convolution's store") {
    // Rows of 4 columns: pooled in the store by every instruction set.
    check_pool_fusion<
        Sequential<Input<2, 4, 4>, Conv2D<5, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        3, 41, poolable_width(4));
    // Odd height and width (the last row and column are not pooled), an epilogue after the
    // pool; two such convolutions in a row.
    check_pool_fusion<Sequential<Input<3, 5, 3>, Conv2D<6, 3, Same>, ReLU, MaxPool2D<2>, ReLU,
                                 Flatten, Dense<2>>>(2, 42, poolable_width(3));
    check_pool_fusion<Sequential<Input<2, 8, 4>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                                 Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<2>>>(
        2, 49, poolable_width(4) + poolable_width(2));
    // The CNN example's shapes: 28 and 14 columns (pooled in the store where the block holds
    // two rows of them).
    check_pool_fusion<Sequential<Input<1, 28, 28>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                                 Conv2D<6, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 43, poolable_width(28) + poolable_width(14));
    // Not pooled in the store: another activation, an average pool, a stride-1 pool, a padded
    // pool, and a convolution output that two branches read.
    check_pool_fusion<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, Tanh, MaxPool2D<2>, Flatten, Dense<2>>>(
        2, 44, 0);
    check_pool_fusion<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU, AvgPool2D<2>, Flatten, Dense<2>>>(
        2, 45, 0);
    check_pool_fusion<Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2, Stride<1>>,
                                 Flatten, Dense<2>>>(2, 46, 0);
    check_pool_fusion<Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2, Padding<1>>,
                                 Flatten, Dense<2>>>(2, 47, 0);
    check_pool_fusion<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU,
                   Concat<Branch<MaxPool2D<2>>, Branch<AvgPool2D<2>>>, Flatten, Dense<2>>>(2, 48,
                                                                                           0);
}

TEST_CASE("Conv2D, ReLU, MaxPool2D<2> in training: gradients through the pool in the store") {
    // Training stores Y and the pooled output in one pass (Store::y_and_pool); the pool's
    // backward then reads Y. Float (fused where the block holds row pairs) against double
    // (never fused): direct kernel with odd height and width, two in a row at the CNN
    // example's widths, Winograd with odd sizes and two in a row.
    check_float_gradients<Sequential<Input<3, 5, 3>, Conv2D<6, 3, Same>, ReLU, MaxPool2D<2>, ReLU,
                                     Flatten, Dense<2>>>(2, 51);
    check_float_gradients<Sequential<Input<1, 28, 28>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                                     Conv2D<6, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 52);
    check_float_gradients<
        Sequential<Input<9, 7, 5>, Conv2D<10, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(2,
                                                                                                53);
    check_float_gradients<Sequential<Input<8, 12, 12>, Conv2D<8, 3, Same>, ReLU, MaxPool2D<2>,
                                     Conv2D<11, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 54);
}

TEST_CASE("batch 1 on several threads: Winograd GEMMs and Dense rows split, same outputs") {
    using Net = Sequential<Input<8, 10, 10>, Conv2D<16, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<8, 3>,
                           Flatten, Dense<70>, ReLU, Dense<3>>;
    static_assert(conv_lowering<at<0, stages_of<Net>>>::winograd);
    Model<Net> m(device::cpu());
    m.init(91);
    const auto xd = random_values(Net::in_size, 92);
    const std::vector<float> x(xd.begin(), xd.end());
    std::vector<std::vector<float>> outs;
    for (const unsigned threads : {1u, 2u, 3u}) {
        set_num_threads(threads);
        for (const Mode mode : {Mode::inference, Mode::training}) {
            const auto y = m.forward(x, 1, mode);
            outs.emplace_back(y.begin(), y.end());
        }
    }
    set_num_threads(1);
    for (std::size_t i = 2; i < outs.size(); ++i) {
        INFO("run " << i);
        double worst = 0;
        for (std::size_t j = 0; j < outs[i].size(); ++j)
            worst = std::max(worst, static_cast<double>(std::fabs(outs[i][j] - outs[i % 2][j])));
        CHECK(worst <= 1e-5);
    }
}

TEST_CASE("Conv2D forward by hand: a 2x2 kernel on a 3x3 image") {
    using Net = Sequential<Input<1, 3, 3>, Conv2D<1, 2>>;
    Model<Net> m;
    auto p = m.parameters();
    const float w[] = {1, 2, 3, 4, 0.5f}; // weight [[1, 2], [3, 4]], bias 0.5
    std::copy(std::begin(w), std::end(w), p.begin());
    const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    const auto y = m.forward(x, 1);
    REQUIRE(y.size() == 4);
    CHECK(y[0] == doctest::Approx(1 + 4 + 12 + 20 + 0.5)); // 1*1 + 2*2 + 3*4 + 4*5
    CHECK(y[1] == doctest::Approx(2 + 6 + 15 + 24 + 0.5));
    CHECK(y[2] == doctest::Approx(4 + 10 + 21 + 32 + 0.5));
    CHECK(y[3] == doctest::Approx(5 + 12 + 24 + 36 + 0.5));
}

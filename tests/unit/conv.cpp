// Convolution and pooling: shapes and PyTorch layouts, forward against naive reference loops,
// every option's backward pass against finite differences, lowering and describe().
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

namespace {

template <class List>
struct as_tuple;
template <class... T>
struct as_tuple<type_list<T...>> {
    using type = std::tuple<T...>;
};
/// The I-th type of a type_list.
template <std::size_t I, class List>
using at = std::tuple_element_t<I, typename as_tuple<List>::type>;

/// Runs Net (a single Conv2D after Input) in double and compares with the reference.
template <class Net>
void check_conv_forward(const ConvRef& r, std::size_t batch, std::uint64_t seed) {
    static_assert(Net::out_shape::rank == 3);
    REQUIRE(Net::out_shape::dims[0] == r.o);
    REQUIRE(Net::out_shape::dims[1] == r.oh);
    REQUIRE(Net::out_shape::dims[2] == r.ow);
    Model<Net, double> m;
    m.init(seed);
    auto p = m.parameters();
    const auto noise = random_values(p.size(), seed + 1, -0.5, 0.5);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += noise[i];
    const auto x = random_values(batch * Net::in_size, seed + 2);
    const auto y = m.forward(x, batch);
    const auto expected = r.run(x, p.data(), batch);
    REQUIRE(y.size() == expected.size());
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
        worst = std::max(worst, std::fabs(y[i] - expected[i]));
    CHECK(worst < 1e-12);
}

/// Max or average pooling as plain loops (count_include_pad=True), one channel plane at a time.
std::vector<double> pool_ref(const std::vector<double>& x, std::size_t planes, std::size_t h,
                             std::size_t w, std::size_t k, std::size_t s, std::size_t pad,
                             bool max) {
    const std::size_t oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
    std::vector<double> y(planes * oh * ow);
    for (std::size_t pl = 0; pl < planes; ++pl)
        for (std::size_t i = 0; i < oh; ++i)
            for (std::size_t j = 0; j < ow; ++j) {
                double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
                for (std::size_t a = 0; a < k; ++a)
                    for (std::size_t b = 0; b < k; ++b) {
                        const long ih = static_cast<long>(i * s + a) - static_cast<long>(pad);
                        const long iw = static_cast<long>(j * s + b) - static_cast<long>(pad);
                        if (ih < 0 || iw < 0 || ih >= static_cast<long>(h) ||
                            iw >= static_cast<long>(w))
                            continue;
                        const double v = x[(pl * h + static_cast<std::size_t>(ih)) * w +
                                           static_cast<std::size_t>(iw)];
                        acc = max ? std::max(acc, v) : acc + v;
                    }
                y[(pl * oh + i) * ow + j] = max ? acc : acc / static_cast<double>(k * k);
            }
    return y;
}

template <class Net>
void check_pool_forward(std::size_t c, std::size_t h, std::size_t w, std::size_t k, std::size_t s,
                        std::size_t pad, bool max, std::size_t batch) {
    Model<Net, double> m;
    const auto x = random_values(batch * Net::in_size, 99);
    const auto y = m.forward(x, batch);
    const auto expected = pool_ref(x, batch * c, h, w, k, s, pad, max);
    REQUIRE(y.size() == expected.size());
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(expected[i]));
}

// A window layer L is checked after a 1x1 convolution and before Flatten + Dense, so that its
// backward pass (dX) is what carries the gradient to the first convolution's parameters.
template <class L, std::size_t C = 2, std::size_t H = 5, std::size_t W = 5>
using ConvSandwich = Sequential<Input<C, H, W>, Conv2D<C, 1>, L, Flatten, Dense<2>>;

} // namespace

TEST_CASE("Conv2D: output shapes, parameter names and PyTorch layouts") {
    using Net = Sequential<Input<3, 32, 32>, Conv2D<16, 3, Same>, ReLU, Conv2D<32, 3, Stride<2>>,
                           Conv2D<32, 5, Padding<2>, Groups<4>, NoBias>, Conv2D<64, 3, Depthwise>,
                           Conv2D<8, 3, Dilation<2>, Same>>;
    using N = Net::nodes;
    static_assert(std::is_same_v<at<0, N>::out_shape, Shape<16, 32, 32>>);
    static_assert(std::is_same_v<at<2, N>::out_shape, Shape<32, 15, 15>>);
    static_assert(std::is_same_v<at<3, N>::out_shape, Shape<32, 15, 15>>);
    static_assert(std::is_same_v<at<4, N>::out_shape, Shape<64, 13, 13>>);
    static_assert(std::is_same_v<Net::out_shape, Shape<8, 13, 13>>);
    static_assert(Net::param_count == (16 * 3 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 8 * 25) +
                                          (64 * 1 * 9 + 64) + (8 * 64 * 9 + 8));
    const auto t = parameter_table<Net>();
    REQUIRE(t.size() == 9);
    CHECK(t[0].name == "0.weight");
    CHECK(t[0].spec.shape() == std::vector<std::int64_t>{16, 3, 3, 3});
    CHECK(t[0].spec.fan_in == 27);
    CHECK(t[1].name == "0.bias");
    CHECK(t[4].name == "3.weight");
    CHECK(t[4].spec.shape() == std::vector<std::int64_t>{32, 8, 5, 5});
    CHECK(t[4].spec.fan_in == 8 * 25); // PyTorch: in / groups * kh * kw
    CHECK(t[5].name == "4.weight");
    CHECK(t[5].spec.shape() == std::vector<std::int64_t>{64, 1, 3, 3});
    CHECK(t[5].spec.fan_in == 9);
    CHECK(t[7].spec.shape() == std::vector<std::int64_t>{8, 64, 3, 3});
    CHECK(t[8].offset + t[8].size == Net::param_count);

    CHECK(Conv2D<32, 3, Same>::name() == "Conv2D<32, 3, Same>");
    CHECK(Conv2D<8, 5, Stride<2, 1>, Padding<1, 2>, NoBias>::name() ==
          "Conv2D<8, 5, Stride<2, 1>, Padding<1, 2>, NoBias>");
    CHECK(MaxPool2D<3, Stride<2>>::name() == "MaxPool2D<3, Stride<2>>");
}

TEST_CASE("pooling: output shapes follow PyTorch (stride defaults to the kernel)") {
    static_assert(
        std::is_same_v<Sequential<Input<4, 28, 28>, MaxPool2D<2>>::out_shape, Shape<4, 14, 14>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 7>, MaxPool2D<2>>::out_shape, Shape<4, 3, 3>>);
    static_assert(std::is_same_v<Sequential<Input<4, 7, 7>, MaxPool2D<3, Stride<2>>>::out_shape,
                                 Shape<4, 3, 3>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 7>, AvgPool2D<3, Stride<2>, Padding<1>>>::out_shape,
                       Shape<4, 4, 4>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 5>, GlobalAvgPool>::out_shape, Shape<4, 1, 1>>);
    static_assert(Sequential<Input<4, 7, 5>, GlobalAvgPool, Flatten, Dense<3>>::param_count == 15);
}

TEST_CASE("Conv2D forward equals a naive convolution") {
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 3>>>(
        {2, 5, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 3, 4, true}, 2, 1);
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 3, Same>>>(
        {2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 5, 6, true}, 2, 2);
    // Same with an even kernel pads one more row/column after than before (as PyTorch).
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 4, Same>>>(
        {2, 5, 6, 3, 4, 1, 1, 1, 1, 1, 1, 1, 5, 6, true}, 2, 3);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Stride<2, 3>, Padding<1, 2>>>>(
        {2, 7, 8, 3, 3, 2, 3, 1, 2, 1, 1, 1, 4, 4, true}, 2, 4);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2, 3>, NoBias>>>(
        {2, 7, 8, 3, 3, 1, 1, 0, 0, 2, 3, 1, 3, 2, false}, 2, 5);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2>, Same>>>(
        {2, 7, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 7, 8, true}, 2, 6);
    check_conv_forward<Sequential<Input<4, 5, 5>, Conv2D<6, 3, Groups<2>, Padding<1>>>>(
        {4, 5, 5, 6, 3, 1, 1, 1, 1, 1, 1, 2, 5, 5, true}, 2, 7);
    check_conv_forward<Sequential<Input<3, 5, 5>, Conv2D<6, 3, Depthwise, Stride<2>>>>(
        {3, 5, 5, 6, 3, 2, 2, 0, 0, 1, 1, 3, 2, 2, true}, 2, 8);
    // 256 output pixels: the CPU backend unfolds 2 samples per GEMM, so a batch of 5 has a
    // partial last chunk.
    check_conv_forward<Sequential<Input<2, 16, 16>, Conv2D<3, 3, Same>>>(
        {2, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 16, 16, true}, 5, 9);
    check_conv_forward<Sequential<Input<1, 4, 4>, Conv2D<2, 4>>>(
        {1, 4, 4, 2, 4, 1, 1, 0, 0, 1, 1, 1, 1, 1, true}, 3, 10);
}

TEST_CASE("Conv2D forward in float equals a naive convolution (the direct CPU kernel)") {
    const auto id = [](double v) { return v; };
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    const auto tanh = [](double v) { return std::tanh(v); };
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    // A row of 17 columns: two vector units per row, the second partial; 7 channels: blocks of
    // 4, 2 and 1 output channels. ReLU on the registers.
    check_conv_forward_float<Sequential<Input<3, 5, 17>, Conv2D<7, 3, Same>, ReLU>>(
        {3, 5, 17, 7, 3, 1, 1, 1, 1, 1, 1, 1, 5, 17, true}, 3, 21, relu);
    // One input channel (the first convolution of the CNN example), 13 outputs, Tanh after it.
    check_conv_forward_float<Sequential<Input<1, 28, 28>, Conv2D<13, 3, Same>, Tanh>>(
        {1, 28, 28, 13, 3, 1, 1, 1, 1, 1, 1, 1, 28, 28, true}, 2, 22, tanh);
    // Valid 5x5 (29 of 33 columns), no epilogue; an even kernel with Same (asymmetric padding).
    check_conv_forward_float<Sequential<Input<2, 9, 33>, Conv2D<5, 5>>>(
        {2, 9, 33, 5, 5, 1, 1, 0, 0, 1, 1, 1, 5, 29, true}, 2, 23, id);
    check_conv_forward_float<Sequential<Input<2, 7, 8>, Conv2D<3, 4, Same>, ReLU>>(
        {2, 7, 8, 3, 4, 1, 1, 1, 1, 1, 1, 1, 7, 8, true}, 4, 24, relu);
    // Dilation without bias; padding wider than the kernel needs; a 1x1 convolution, 33 outputs.
    check_conv_forward_float<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2, 3>, NoBias>>>(
        {2, 7, 8, 3, 3, 1, 1, 0, 0, 2, 3, 1, 3, 2, false}, 2, 25, id);
    check_conv_forward_float<Sequential<Input<2, 5, 6>, Conv2D<3, 3, Padding<2>>, ReLU>>(
        {2, 5, 6, 3, 3, 1, 1, 2, 2, 1, 1, 1, 7, 8, true}, 2, 26, relu);
    check_conv_forward_float<Sequential<Input<4, 6, 6>, Conv2D<33, 1>, ReLU>>(
        {4, 6, 6, 33, 1, 1, 1, 0, 0, 1, 1, 1, 6, 6, true}, 3, 27, relu);
    // 64 channels over a 14 x 14 image (the second convolution of the CNN example): Winograd.
    check_conv_forward_float<Sequential<Input<32, 14, 14>, Conv2D<64, 3, Same>, ReLU>>(
        {32, 14, 14, 64, 3, 1, 1, 1, 1, 1, 1, 1, 14, 14, true}, 2, 28, relu);
}

TEST_CASE("Conv2D 3x3 with 8+ channels runs as Winograd F(2x2, 3x3) and equals a naive one") {
    const auto id = [](double v) { return v; };
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    using W1 = Sequential<Input<9, 7, 5>, Conv2D<10, 3, Same>, ReLU>;
    static_assert(conv_lowering<at<0, stages_of<W1>>>::winograd);
    static_assert(
        !conv_lowering<at<0, stages_of<Sequential<Input<7, 7, 5>, Conv2D<10, 3>>>>>::winograd);
    static_assert(
        !conv_lowering<at<0, stages_of<Sequential<Input<9, 7, 5>, Conv2D<10, 5>>>>>::winograd);
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    // Odd height and width (a last tile half outside), channel counts that fill no vector.
    check_conv_forward_float<W1>({9, 7, 5, 10, 3, 1, 1, 1, 1, 1, 1, 1, 7, 5, true}, 3, 71, relu);
    // Valid (no padding), no bias, no epilogue; asymmetric padding of 2 on each side.
    check_conv_forward_float<Sequential<Input<8, 6, 9>, Conv2D<17, 3, NoBias>>>(
        {8, 6, 9, 17, 3, 1, 1, 0, 0, 1, 1, 1, 4, 7, false}, 2, 72, id);
    check_conv_forward_float<Sequential<Input<12, 5, 4>, Conv2D<8, 3, Padding<2>>, ReLU>>(
        {12, 5, 4, 8, 3, 1, 1, 2, 2, 1, 1, 1, 7, 6, true}, 2, 73, relu);
    // The input gradient as a Winograd convolution of dZ (8 -> 9 channels back to 8).
    check_float_gradients<ConvAfterConv<Conv2D<9, 3, Same>, 8, 7, 9>>(2, 74);
    check_float_gradients<ConvAfterConv<Conv2D<16, 3>, 8, 8, 6>>(2, 75);
    // A 2 x 2 max pool in the store of a Winograd convolution: odd sizes, two in a row.
    check_pool_fusion<
        Sequential<Input<9, 7, 5>, Conv2D<10, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 76, 1);
    check_pool_fusion<Sequential<Input<8, 12, 12>, Conv2D<8, 3, Same>, ReLU, MaxPool2D<2>,
                                 Conv2D<11, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(2, 77,
                                                                                              2);
}

TEST_CASE("Conv2D input gradients in float (direct kernel) match double (im2col)") {
    // The first convolution's weight gradient flows through the second one's input gradient.
    check_float_gradients<ConvAfterConv<Conv2D<5, 3, Same>>>(3, 31);
    check_float_gradients<ConvAfterConv<Conv2D<4, 3>>>(2, 32);                 // valid
    check_float_gradients<ConvAfterConv<Conv2D<4, 4, Same>>>(2, 33);           // asymmetric pad
    check_float_gradients<ConvAfterConv<Conv2D<3, 3, Dilation<2, 3>>>>(2, 34); // dilation
    check_float_gradients<ConvAfterConv<Conv2D<7, 3, Padding<2>, NoBias>>>(2, 35);
    check_float_gradients<ConvAfterConv<Conv2D<17, 1>>>(2, 36);
    // Padded by more than the kernel's extent: the input gradient stays im2col (col2im).
    check_float_gradients<ConvAfterConv<Conv2D<3, 3, Padding<3>>>>(2, 37);
    // Strided and grouped convolutions stay on im2col for both passes.
    check_float_gradients<ConvAfterConv<Conv2D<4, 3, Stride<2>>>>(2, 38);
    check_float_gradients<ConvAfterConv<Conv2D<6, 3, Groups<3>, Same>>>(2, 39);
}

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

TEST_CASE("pooling forward equals naive loops") {
    check_pool_forward<Sequential<Input<2, 6, 6>, MaxPool2D<2>>>(2, 6, 6, 2, 2, 0, true, 3);
    check_pool_forward<Sequential<Input<2, 7, 7>, MaxPool2D<3, Stride<2>>>>(2, 7, 7, 3, 2, 0, true,
                                                                            3);
    check_pool_forward<Sequential<Input<2, 7, 7>, MaxPool2D<3, Stride<2>, Padding<1>>>>(
        2, 7, 7, 3, 2, 1, true, 3);
    check_pool_forward<Sequential<Input<2, 5, 5>, AvgPool2D<2>>>(2, 5, 5, 2, 2, 0, false, 3);
    check_pool_forward<Sequential<Input<2, 7, 7>, AvgPool2D<3, Stride<2>, Padding<1>>>>(
        2, 7, 7, 3, 2, 1, false, 3);
    check_pool_forward<Sequential<Input<3, 5, 5>, GlobalAvgPool>>(3, 5, 5, 5, 1, 0, false, 2);
}

TEST_CASE("MaxPool2D forward: a NaN in a window wins wherever it is, as in PyTorch") {
    // Three 2x2 windows of a [1, 2, 6] image: NaN first, NaN after the maximum, no NaN. Unpadded
    // windows take a branch-free path; a padded pooling (argmax by window) must agree with it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x{nan, 1, 2,   9, 4, -1, //
                               0,   5, nan, 3, 7, 7};
    Model<Sequential<Input<1, 2, 6>, MaxPool2D<2>>> unpadded;
    const auto y = unpadded.forward(x, 1);
    REQUIRE(y.size() == 3);
    CHECK(std::isnan(y[0]));
    CHECK(std::isnan(y[1]));
    CHECK(y[2] == 7.0f);
    // 3x3 windows, stride 2, Padding<1>: columns -1..1 (NaN), 1..3 (NaN after the 9), 3..5.
    Model<Sequential<Input<1, 2, 6>, MaxPool2D<3, Stride<2>, Padding<1>>>> padded;
    const auto z = padded.forward(x, 1);
    REQUIRE(z.size() == 3);
    CHECK(std::isnan(z[0]));
    CHECK(std::isnan(z[1]));
    CHECK(z[2] == 9.0f);
}

TEST_CASE("MaxPool2D backward routes the gradient to the first maximum of a window") {
    // z = x0 + x1 (a 1x1 convolution with weights 1, 1) ties at positions 1 and 2 of the single
    // 2x2 window, with different splits between the channels: PyTorch picks the first.
    using Net = Sequential<Input<2, 2, 2>, Conv2D<1, 1, NoBias>, MaxPool2D<2>>;
    Model<Net, double> m;
    m.parameters()[0] = 1.0;
    m.parameters()[1] = 1.0;
    const std::vector<double> x{0.5, 2.0, 1.0, -1.0, 0.0, 0.0, 1.0, 0.0};
    m.forward(x, 1, Mode::training);
    const std::vector<double> target{0.0};
    CHECK(m.loss(loss::MSE{}, {nullptr, target.data()}) == doctest::Approx(4.0));
    m.backward();
    // dL/dy = 2 * (2 - 0) = 4, routed to position 1: dL/dw = 4 * (x0[1], x1[1]) = (8, 0).
    CHECK(m.gradients()[0] == doctest::Approx(8.0));
    CHECK(m.gradients()[1] == doctest::Approx(0.0));
}

TEST_CASE("gradient check: Conv2D, valid and same padding, odd and even kernels") {
    check_parameter_gradients<Sequential<Input<2, 5, 5>, Conv2D<3, 3>, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 100);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Same>>>(loss::MSE{}, 3, 101);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 4, Same>>>(loss::MSE{}, 3, 102);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 2>, 2, 4, 5>>(loss::MSE{}, 3, 103);
}

TEST_CASE("gradient check: Conv2D stride, padding and dilation") {
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Stride<2>>, 2, 7, 7>>(loss::MSE{}, 3, 110);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Stride<2, 1>, Padding<1, 2>>, 2, 6, 5>>(
        loss::MSE{}, 3, 111);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Dilation<2>>, 2, 6, 6>>(loss::MSE{}, 3,
                                                                                112);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Dilation<2, 1>, Same>, 2, 6, 5>>(
        loss::MSE{}, 3, 113);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Stride<3>, Padding<2>>, 2, 5, 5>>(
        loss::MSE{}, 3, 114);
}

TEST_CASE("gradient check: Conv2D groups, depthwise and no bias") {
    check_parameter_gradients<ConvSandwich<Conv2D<6, 3, Groups<2>, Padding<1>>, 4, 4, 4>>(
        loss::MSE{}, 3, 120);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Depthwise, Same>, 3, 5, 5>>(loss::MSE{}, 3,
                                                                                    121);
    check_parameter_gradients<ConvSandwich<Conv2D<6, 3, Depthwise, Stride<2>>, 3, 5, 5>>(
        loss::MSE{}, 3, 122);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, NoBias, Same>>>(loss::MSE{}, 3, 123);
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<4, 3, Groups<2>, NoBias>, Flatten, Dense<2>>>(loss::MSE{},
                                                                                        3, 124);
}

TEST_CASE("gradient check: Conv2D with a fused epilogue, dropout and a chunked batch") {
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Same>, 2, 5, 5>>(loss::MSE{}, 3, 130);
    check_parameter_gradients<Sequential<Input<2, 5, 5>, Conv2D<4, 3, Same>, Tanh, Dropout<0.3f>,
                                         Conv2D<2, 3>, SiLU, Flatten, Dense<2>>>(loss::MSE{}, 3,
                                                                                 131);
    // 256 output pixels: 2 samples per GEMM, the batch of 3 ends with a partial chunk.
    check_parameter_gradients<Sequential<Input<1, 16, 16>, Conv2D<2, 3, Same>, Tanh,
                                         Conv2D<2, 3, Same>, GlobalAvgPool, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 132);
}

TEST_CASE("gradient check: MaxPool2D, non-overlapping, overlapping, padded and odd sizes") {
    check_parameter_gradients<ConvSandwich<MaxPool2D<2>, 2, 4, 4>>(loss::MSE{}, 3, 140);
    check_parameter_gradients<ConvSandwich<MaxPool2D<2>, 2, 5, 5>>(loss::MSE{}, 3, 141);
    check_parameter_gradients<ConvSandwich<MaxPool2D<3, Stride<2>>, 2, 7, 7>>(loss::MSE{}, 3, 142);
    check_parameter_gradients<ConvSandwich<MaxPool2D<3, Stride<1>, Padding<1>>, 2, 5, 4>>(
        loss::MSE{}, 3, 143);
}

TEST_CASE("gradient check: AvgPool2D and GlobalAvgPool") {
    check_parameter_gradients<ConvSandwich<AvgPool2D<2>, 2, 5, 5>>(loss::MSE{}, 3, 150);
    check_parameter_gradients<ConvSandwich<AvgPool2D<3, Stride<2>, Padding<1>>, 2, 7, 7>>(
        loss::MSE{}, 3, 151);
    check_parameter_gradients<ConvSandwich<GlobalAvgPool, 3, 5, 4>>(loss::MSE{}, 3, 152);
}

TEST_CASE("gradient check: activations fused after pools, a small CNN classifier") {
    check_parameter_gradients<Sequential<Input<2, 6, 6>, Conv2D<3, 3, Same>, MaxPool2D<2>, Tanh,
                                         Conv2D<2, 3>, AvgPool2D<1>, Sigmoid, Flatten, Dense<3>>>(
        loss::MSE{}, 3, 160);
    check_parameter_gradients<
        Sequential<Input<1, 8, 8>, Conv2D<4, 3, Same>, SiLU, MaxPool2D<2>, Conv2D<4, 3, Same>, SiLU,
                   MaxPool2D<2>, Flatten, Dense<8>, Tanh, Dense<3>>>(loss::SoftmaxCrossEntropy{}, 4,
                                                                     161);
}

TEST_CASE("lowering: a convolution or a pool anchors a stage; activations fuse after them") {
    using Net =
        Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<64, 3>, ReLU,
                   Dropout<0.25f>, MaxPool2D<2>, ReLU, Flatten, Dense<128>, ReLU, Dense<10>>;
    using S = stages_of<Net>;
    static_assert(forward_stage_count<Net> == 6);
    static_assert(at<0, S>::kind == LayerKind::conv);
    static_assert(at<0, S>::epilogue::size == 1);
    static_assert(at<1, S>::kind == LayerKind::pool);
    static_assert(at<1, S>::epilogue::size == 0);
    static_assert(at<2, S>::epilogue::size == 2);
    static_assert(at<3, S>::epilogue::size == 1);
    // conv: Z and Y; pool without epilogue: Z only; ...
    static_assert(activation_floats_per_sample<Net> ==
                  2 * 32 * 784 + 32 * 196 + 2 * 64 * 144 + 2 * 64 * 36 + 2 * 128 + 10);
    static_assert(gradient_floats_per_sample<Net> == 32 * 784);
    // im2col scratch of the widest convolution: 4 samples x 144 pixels x (288 taps + 64 outputs)
    static_assert(cpu::scratch_floats<S> == 4 * 144 * (288 + 64));
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("forward: 6 stage(s)") != std::string::npos);
    // Stride-1 convolutions run as direct convolutions on the CPU (float, own kernels).
    const std::string how = CTNN_CPU_FUSED ? "(direct)" : "(im2col gemm)";
    CHECK(d.find("stage 0: conv2d   Conv2D<32, 3, Same> " + how + " [1, 28, 28] -> " +
                 "[32, 28, 28]   epilogue: bias, ReLU\n") != std::string::npos);
    CHECK(d.find("stage 1: maxpool  MaxPool2D<2>") != std::string::npos);
    CHECK(d.find("[32, 28, 28] -> [32, 14, 14]\n") != std::string::npos);
    CHECK(d.find("epilogue: bias, ReLU, Dropout(0.25)") != std::string::npos);
    CHECK(d.find("[64, 12, 12] -> [64, 6, 6]   epilogue: ReLU") != std::string::npos);
    CHECK(d.find("0.weight [32, 1, 3, 3], 0.bias [32]") != std::string::npos);
    // The second convolution (32 -> 64 channels, 3 x 3) runs as Winograd F(2 x 2, 3 x 3).
    CHECK(d.find(std::string("Conv2D<64, 3> ") +
                 (CTNN_CPU_FUSED ? "(winograd 2x2)" : "(im2col gemm)") + " [32, 14, 14]") !=
          std::string::npos);
    CHECK(d.find(CTNN_CPU_FUSED ? "dW = winograd (dU = sum V^T (A dZ A^T), dW = G^T dU G), db = "
                                  "sum(dZ), dX = winograd conv of dZ (flipped kernel)"
                                : "dW = im2col(X)^T dZ (gemm), db = sum(dZ), dX = col2im(dZ W) "
                                  "(gemm)") != std::string::npos);
    // The first convolution (one input channel) keeps the direct kernel and im2col for dW.
    CHECK(d.find("stage 0: dZ = dY * epilogue'(Z); dW = im2col(X)^T dZ (gemm), db = sum(dZ)\n") !=
          std::string::npos);
    CHECK(d.find("argmax (recomputed)") != std::string::npos);
}

TEST_CASE("a small CNN learns: training loss falls and float matches double") {
    using Net =
        Sequential<Input<1, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<2>>;
    // Two classes: a bright vertical or horizontal bar.
    Dataset d;
    d.feature_count = 36;
    for (std::size_t i = 0; i < 64; ++i) {
        std::vector<float> img(36, 0.0f);
        const std::size_t pos = i % 6;
        const bool vertical = (i / 6) % 2 == 0;
        for (std::size_t t = 0; t < 6; ++t) img[vertical ? t * 6 + pos : pos * 6 + t] = 1.0f;
        d.features.insert(d.features.end(), img.begin(), img.end());
        d.labels.push_back(vertical ? 0 : 1);
    }
    Model<Net> m;
    m.init(5);
    std::ostringstream quiet;
    const auto h = train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 1e-2f},
                         {.epochs = 30, .batch = 16, .progress = Progress::silent, .out = &quiet});
    CHECK(h.last().train.loss < 0.5 * h.epochs.front().train.loss);
    CHECK(evaluate(m, d, loss::SoftmaxCrossEntropy{}).accuracy == doctest::Approx(1.0));

    Model<Net, double> md;
    const auto p = m.parameters();
    std::copy(p.begin(), p.end(), md.parameters().begin());
    const std::vector<float> xf(d.features.begin(), d.features.begin() + 4 * 36);
    const std::vector<double> xd(xf.begin(), xf.end());
    const auto yf = m.forward(xf, 4);
    const auto yd = md.forward(xd, 4);
    for (std::size_t i = 0; i < yf.size(); ++i)
        CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-4));
}

// --- Upsample ------------------------------------------------------------------------------------

TEST_CASE("Upsample: shapes, no parameters, forward as PyTorch's nearest mode") {
    using Net = Sequential<Input<2, 2, 3>, Upsample<2>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<2, 4, 6>>);
    static_assert(Net::param_count == 0);
    static_assert(
        std::is_same_v<Sequential<Input<1, 3, 2>, Upsample<3>>::out_shape, Shape<1, 9, 6>>);
    static_assert(
        std::is_same_v<Sequential<Input<1, 3, 2>, Upsample<1>>::out_shape, Shape<1, 3, 2>>);
    // stages: upsample (anchor) with the ReLU fused
    using S = stages_of<Sequential<Input<2, 2, 3>, Upsample<2>, ReLU>>;
    static_assert(S::size == 1 && at<0, S>::kind == LayerKind::resample &&
                  at<0, S>::epilogue::size == 1);

    Model<Net> m;
    std::vector<float> x(2 * 2 * 2 * 3);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    const auto y = m.forward(x, 2);
    REQUIRE(y.size() == 2 * 2 * 4 * 6);
    // y[s][c][oy][ox] = x[s][c][oy / 2][ox / 2]
    for (std::size_t sc = 0; sc < 4; ++sc)
        for (std::size_t oy = 0; oy < 4; ++oy)
            for (std::size_t ox = 0; ox < 6; ++ox)
                CHECK(y[sc * 24 + oy * 6 + ox] == x[sc * 6 + (oy / 2) * 3 + ox / 2]);

    // Backward: each input's gradient is the sum over its 2 x 2 block (loss: sum of w_i y_i).
    using Back = Sequential<Input<1, 2, 2>, Conv2D<1, 1, NoBias>, Upsample<2>>;
    Model<Back, double> b;
    b.parameters()[0] = 1.0;
    const std::vector<double> xb{1.0, 2.0, 3.0, 4.0};
    std::vector<double> target(16, 0.0);
    // MSE = mean (y - t)^2, dL/dy = 2 (y - t) / 16; with t = y - 8 w, dL/dy = w.
    const auto yb = b.forward(xb, 1, Mode::training);
    std::vector<double> w(16);
    for (std::size_t i = 0; i < 16; ++i) {
        w[i] = static_cast<double>(i % 5) - 1.0;
        target[i] = yb[i] - 8.0 * w[i];
    }
    (void)b.loss(loss::MSE{}, {nullptr, target.data()});
    b.backward();
    // dL/dweight = sum_q x_q * (sum of w over q's block)
    double want = 0;
    for (std::size_t iy = 0; iy < 2; ++iy)
        for (std::size_t ix = 0; ix < 2; ++ix) {
            double g = 0;
            for (std::size_t a = 0; a < 2; ++a)
                for (std::size_t c = 0; c < 2; ++c) g += w[(2 * iy + a) * 4 + 2 * ix + c];
            want += xb[iy * 2 + ix] * g;
        }
    CHECK(b.gradients()[0] == doctest::Approx(want));
}

TEST_CASE("gradient check: Upsample (factors 1, 2, 3), epilogues fused after it") {
    check_parameter_gradients<ConvSandwich<Upsample<2>, 2, 3, 3>>(loss::MSE{}, 3, 170);
    check_parameter_gradients<ConvSandwich<Upsample<3>, 2, 2, 3>>(loss::MSE{}, 3, 171);
    check_parameter_gradients<ConvSandwich<Upsample<1>, 2, 3, 2>>(loss::MSE{}, 3, 172);
    // An encoder-decoder: conv, pool, conv, upsample (SiLU fused), conv.
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<3, 3, Same>, Tanh,
                   Upsample<2>, SiLU, Conv2D<2, 3, Same>>>(loss::MSE{}, 3, 173);
    // Upsample first (nothing to propagate to the input).
    check_parameter_gradients<
        Sequential<Input<1, 2, 3>, Upsample<2>, Conv2D<2, 3>, Flatten, Dense<2>>>(loss::MSE{}, 2,
                                                                                  174);
}

TEST_CASE("Upsample: describe() names the stage and its backward pass") {
    using Net = Sequential<Input<2, 3, 3>, Conv2D<2, 1>, Upsample<2>, ReLU, Flatten, Dense<2>>;
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("stage 1: upsample Upsample<2> (nearest) [2, 3, 3] -> [2, 6, 6]   epilogue: "
                 "ReLU") != std::string::npos);
    CHECK(d.find("stage 1: dZ = dY * epilogue'(Z); dX = sum of dZ over each 2 x 2 block") !=
          std::string::npos);
    CHECK(d.find("resample  Upsample<2> [2, 3, 3] -> [2, 6, 6], fused: ReLU") != std::string::npos);
}

TEST_CASE("Upsample<S, Bilinear>: PyTorch's values (align_corners=False) and gradient checks") {
    // torch.nn.Upsample(scale_factor=2, mode="bilinear")(torch.tensor([[[[1., 2.], [3., 4.]]]]))
    using Net = Sequential<Input<1, 2, 2>, Upsample<2, Bilinear>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<1, 4, 4>>);
    Model<Net, double> m;
    const std::vector<double> x{1, 2, 3, 4};
    const auto y = m.forward(x, 1);
    const std::vector<double> want{1.00, 1.25, 1.75, 2.00, 1.50, 1.75, 2.25, 2.50,
                                   2.50, 2.75, 3.25, 3.50, 3.00, 3.25, 3.75, 4.00};
    REQUIRE(y.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]));
    CHECK(Upsample<3, Bilinear>::name() == "Upsample<3, Bilinear>");

    check_parameter_gradients<ConvSandwich<Upsample<2, Bilinear>, 2, 3, 3>>(loss::MSE{}, 3, 175);
    check_parameter_gradients<ConvSandwich<Upsample<3, Bilinear>, 2, 2, 4>>(loss::MSE{}, 3, 176);
    check_parameter_gradients<ConvSandwich<Upsample<1, Bilinear>, 2, 3, 2>>(loss::MSE{}, 3, 177);
    check_parameter_gradients<ConvSandwich<Upsample<2, Bilinear>, 2, 1, 3>>(loss::MSE{}, 3, 178);
}

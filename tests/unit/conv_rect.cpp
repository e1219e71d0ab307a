// Rectangular kernels (Kernel{KH, KW}) of Conv2D and the pools: shapes and PyTorch layouts,
// forward against the naive loops of conv_checks.hpp (im2col in double, the direct CPU kernel in
// float) and gradients against finite differences.
#include "conv_checks.hpp"
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;
using namespace ctnn::test;

TEST_CASE("Kernel{KH, KW}: shapes, names, parameter layouts, and Kernel{K, K} is K") {
    static_assert(std::is_same_v<Conv2D<4, Kernel{3, 3}>, Conv2D<4, 3>>);
    static_assert(std::is_same_v<MaxPool2D<Kernel{2, 2}>, MaxPool2D<2>>);
    using Net = Sequential<Input<3, 9, 12>, Conv2D<4, Kernel{1, 7}, Same>, Conv2D<6, Kernel{3, 1}>,
                           Conv2D<6, Kernel{2, 5}, Same, Groups<2>, NoBias>,
                           MaxPool2D<Kernel{1, 2}>, AvgPool2D<Kernel{3, 2}, Stride<1>>>;
    using N = Net::nodes;
    static_assert(std::is_same_v<at<0, N>::out_shape, Shape<4, 9, 12>>);
    static_assert(std::is_same_v<at<1, N>::out_shape, Shape<6, 7, 12>>);
    static_assert(std::is_same_v<at<2, N>::out_shape, Shape<6, 7, 12>>);
    static_assert(std::is_same_v<at<3, N>::out_shape, Shape<6, 7, 6>>); // stride (1, 2)
    static_assert(std::is_same_v<Net::out_shape, Shape<6, 5, 5>>);
    // Same with an even kernel height pads the one extra row below (as PyTorch).
    constexpr auto g = at<2, N>::bound::window;
    static_assert(g.kh == 2 && g.kw == 5 && g.pt == 0 && g.pb == 1 && g.pl == 2 && g.pr == 2);
    static_assert(Net::param_count == (4 * 3 * 7 + 4) + (6 * 4 * 3 + 6) + (6 * 3 * 10));

    const auto t = parameter_table<Net>();
    REQUIRE(t.size() == 5);
    CHECK(t[0].spec.shape() == std::vector<std::int64_t>{4, 3, 1, 7});
    CHECK(t[0].spec.fan_in == 21);
    CHECK(t[2].spec.shape() == std::vector<std::int64_t>{6, 4, 3, 1});
    CHECK(t[4].name == "2.weight");
    CHECK(t[4].spec.shape() == std::vector<std::int64_t>{6, 3, 2, 5});
    CHECK(t[4].spec.fan_in == 3 * 10);

    CHECK(Conv2D<4, Kernel{1, 7}, Same>::name() == "Conv2D<4, Kernel{1, 7}, Same>");
    CHECK(Conv2D<4, Kernel{3, 3}>::name() == "Conv2D<4, 3>");
    CHECK(MaxPool2D<Kernel{1, 2}>::name() == "MaxPool2D<Kernel{1, 2}>");
    CHECK(AvgPool2D<Kernel{3, 2}, Stride<1>>::name() == "AvgPool2D<Kernel{3, 2}, Stride<1>>");
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("Conv2D<6, Kernel{3, 1}>") != std::string::npos);
}

TEST_CASE("Kernel{KH, KW}: Conv2D forward equals a naive convolution (double, im2col)") {
    // c, h, w, o, k (rows), sh, sw, pt, pl, dh, dw, groups, oh, ow, bias, kw (columns)
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, Kernel{1, 3}>>>(
        {2, 5, 6, 3, 1, 1, 1, 0, 0, 1, 1, 1, 5, 4, true, 3}, 2, 301);
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, Kernel{3, 1}, Padding<1, 0>>>>(
        {2, 5, 6, 3, 3, 1, 1, 1, 0, 1, 1, 1, 5, 6, true, 1}, 2, 302);
    check_conv_forward<Sequential<Input<2, 6, 7>, Conv2D<3, Kernel{2, 5}, Same>>>(
        {2, 6, 7, 3, 2, 1, 1, 0, 2, 1, 1, 1, 6, 7, true, 5}, 2, 303);
    check_conv_forward<Sequential<
        Input<4, 7, 8>, Conv2D<6, Kernel{3, 2}, Stride<2, 1>, Dilation<1, 2>, Groups<2>, NoBias>>>(
        {4, 7, 8, 6, 3, 2, 1, 0, 0, 1, 2, 2, 3, 6, false, 2}, 3, 304);
}

TEST_CASE("Kernel{KH, KW}: Conv2D forward in float equals a naive convolution (direct kernel)") {
    const auto id = [](double v) { return v; };
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    // c, h, w, o, k (rows), sh, sw, pt, pl, dh, dw, groups, oh, ow, bias, kw (columns)
    check_conv_forward_float<Sequential<Input<3, 6, 17>, Conv2D<7, Kernel{1, 7}, Same>, ReLU>>(
        {3, 6, 17, 7, 1, 1, 1, 0, 3, 1, 1, 1, 6, 17, true, 7}, 2, 311, relu);
    check_conv_forward_float<Sequential<Input<2, 9, 10>, Conv2D<5, Kernel{5, 1}>>>(
        {2, 9, 10, 5, 5, 1, 1, 0, 0, 1, 1, 1, 5, 10, true, 1}, 2, 312, id);
    // 9 channels, 3 x 5: not Winograd's 3 x 3.
    check_conv_forward_float<Sequential<Input<9, 7, 6>, Conv2D<10, Kernel{3, 5}, Same>, ReLU>>(
        {9, 7, 6, 10, 3, 1, 1, 1, 2, 1, 1, 1, 7, 6, true, 5}, 2, 313, relu);
}

TEST_CASE("Kernel{KH, KW}: pooling forward equals naive loops") {
    // kh, kw, sh, sw, ph, pw
    check_pool_forward<Sequential<Input<2, 4, 6>, MaxPool2D<Kernel{1, 2}>>>(
        2, 4, 6, PoolWindow{1, 2, 1, 2, 0, 0}, true, 3);
    check_pool_forward<
        Sequential<Input<2, 7, 5>, MaxPool2D<Kernel{3, 2}, Stride<2, 1>, Padding<1>>>>(
        2, 7, 5, PoolWindow{3, 2, 2, 1, 1, 1}, true, 2);
    check_pool_forward<Sequential<Input<2, 6, 5>, AvgPool2D<Kernel{2, 3}>>>(
        2, 6, 5, PoolWindow{2, 3, 2, 3, 0, 0}, false, 2);
    check_pool_forward<
        Sequential<Input<2, 5, 6>, AvgPool2D<Kernel{3, 1}, Stride<1>, Padding<1, 0>>>>(
        2, 5, 6, PoolWindow{3, 1, 1, 1, 1, 0}, false, 2);
}

TEST_CASE("gradient check: Kernel{KH, KW} convolutions and pools") {
    check_parameter_gradients<ConvSandwich<Conv2D<3, Kernel{1, 3}, Same>, 2, 4, 5>>(loss::MSE{}, 3,
                                                                                    320);
    check_parameter_gradients<ConvSandwich<Conv2D<2, Kernel{3, 2}, Stride<2, 1>>, 2, 7, 5>>(
        loss::MSE{}, 3, 321);
    check_parameter_gradients<
        ConvSandwich<Conv2D<4, Kernel{2, 3}, Groups<2>, Dilation<2, 1>, NoBias>, 2, 6, 5>>(
        loss::MSE{}, 3, 322);
    check_parameter_gradients<ConvSandwich<MaxPool2D<Kernel{2, 1}>, 2, 4, 5>>(loss::MSE{}, 3, 323);
    check_parameter_gradients<
        ConvSandwich<AvgPool2D<Kernel{1, 3}, Stride<1>, Padding<0, 1>>, 2, 4, 5>>(loss::MSE{}, 3,
                                                                                  324);
}

TEST_CASE("Kernel{KH, KW}: float gradients (direct kernels) match double") {
    check_float_gradients<Sequential<Input<3, 6, 9>, Conv2D<5, Kernel{1, 5}, Same>, Tanh,
                                     Conv2D<4, Kernel{3, 1}>, Flatten, Dense<3>>>(3, 330);
}

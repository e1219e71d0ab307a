// Graph forms: Residual (skip connections), Add and Concat (parallel branches): shapes, names,
// lowering, forward by hand, and the backward pass of every arrangement against finite differences.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;

TEST_CASE("Residual: PyTorch names inside the block, one index per block in its Sequential") {
    using Block = Residual<Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, Conv2D<4, 3, Same>>;
    using Net = Sequential<Input<1, 8, 8>, Conv2D<4, 3, Same>, ReLU, Block, ReLU,
                           Residual<Residual<Conv2D<4, 1>>, Tanh>, Flatten, Dense<3>>;
    static_assert(Net::layer_count == 7);
    static_assert(std::is_same_v<Net::out_shape, Shape<3>>);
    static_assert(Net::param_count ==
                  (4 * 9 + 4) + (4 * 36) + 8 + (4 * 36 + 4) + (4 * 4 + 4) + (3 * 256 + 3));
    std::vector<std::string> names;
    for (const ParamEntry& e : parameter_table<Net>()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.0.weight", "2.1.weight",
                                            "2.1.bias", "2.3.weight", "2.3.bias", "4.0.0.weight",
                                            "4.0.0.bias", "6.weight", "6.bias"});
    CHECK(buffer_table<Net>()[0].name == "2.1.running_mean");
}

TEST_CASE("lowering: a Residual ends the stage before it and joins in a stage of its own") {
    using Net = Sequential<Input<6>, Dense<6>, Residual<Dense<6>, Tanh, Dense<6>>, ReLU, Dense<2>>;
    // Dense(+bias) | Dense(+bias, Tanh) | Dense(+bias) | add(+ReLU) | Dense
    static_assert(forward_stage_count<Net> == 5);
    using S = stages_of<Net>;
    using Add = std::tuple_element_t<3, typename decltype([] {
                                         return []<class... T>(type_list<T...>) {
                                             return std::type_identity<std::tuple<T...>>{};
                                         }(S{});
                                     }())::type>;
    static_assert(Add::kind == LayerKind::add);
    static_assert(Add::anchor::skip_stage == 0 && Add::anchor::body_first == 1);
    static_assert(Add::epilogue::size == 1);
    static_assert(workspace_plan<S>::skip_grad_per_sample == 6);
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("stage 3: add      skip from stage 0") != std::string::npos);
    CHECK(d.find("epilogue: ReLU") != std::string::npos);
    CHECK(d.find("dZ kept for the skip (added after stage 1)") != std::string::npos);
    CHECK(d.find("1   Residual") != std::string::npos);
    CHECK(d.find("1.2 Dense<6>") != std::string::npos);
    // A Residual at the start takes its skip from the model input.
    CHECK(describe<Sequential<Input<3>, Residual<Tanh>, Dense<2>>>().find(
              "add      skip from the input") != std::string::npos);
}

TEST_CASE("Residual forward: y = x + W x + b") {
    using Net = Sequential<Input<2>, Residual<Dense<2>>>;
    Model<Net> m;
    auto p = m.parameters();
    const float w[] = {1, 2, 3, 4, 0.5f, -1}; // W = [[1, 2], [3, 4]], b = [0.5, -1]
    std::copy(std::begin(w), std::end(w), p.begin());
    const std::vector<float> x{1, -1};
    const auto y = m.forward(x, 1);
    CHECK(y[0] == doctest::Approx(1 + (1 - 2 + 0.5)));
    CHECK(y[1] == doctest::Approx(-1 + (3 - 4 - 1)));
}

TEST_CASE("gradient check: Residual around dense layers, at the start, and elementwise only") {
    check_parameter_gradients<Sequential<Input<5>, Dense<4>, Residual<Dense<4>, Tanh>, Dense<2>>>(
        loss::MSE{}, 3, 300);
    check_parameter_gradients<
        Sequential<Input<4>, Residual<Dense<4>, Tanh, Dense<4>>, SiLU, Dense<2>>>(loss::MSE{}, 3,
                                                                                  301);
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Residual<Sigmoid>, Dense<3>, Residual<Tanh>, Dense<2>>>(
        loss::MSE{}, 3, 302);
}

TEST_CASE("gradient check: nested and consecutive Residuals, dropout in a body") {
    check_parameter_gradients<Sequential<
        Input<5>, Dense<4>, Residual<Residual<Dense<4>, Tanh>, Dense<4>, Sigmoid>, Dense<2>>>(
        loss::MSE{}, 3, 310);
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Residual<Residual<Residual<Tanh>>>, Dense<2>>>(loss::MSE{},
                                                                                      3, 311);
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, Residual<Dense<6>, Tanh>,
                                         Residual<Dense<6>, Dropout<0.3f>, Tanh>, Dense<2>>>(
        loss::MSE{}, 4, 312);
}

TEST_CASE("gradient check: a convolutional residual block with BatchNorm") {
    check_parameter_gradients<Sequential<
        Input<2, 4, 4>, Conv2D<3, 3, Same>, Tanh,
        Residual<Conv2D<3, 3, Same, NoBias>, BatchNorm, Tanh, Conv2D<3, 3, Same>, BatchNorm>, SiLU,
        MaxPool2D<2>, Flatten, Dense<2>>>(loss::MSE{}, 3, 320);
}

// ---------------------------------------------------------------------------------------------
// Add and Concat: parallel branches joined by a sum or along the first dimension.

namespace {
/// Stage I of Net.
template <class Net, std::size_t I>
using stage_t = ctnn::detail::stage_at<stages_of<Net>, I>;
} // namespace

TEST_CASE("Add and Concat: shapes, parameter counts and PyTorch names of branches") {
    using Mixed = Concat<Branch<Conv2D<4, 1>, ReLU>, Branch<Conv2D<3, 3, Same>, BatchNorm, ReLU>,
                         MaxPool2D<3, Stride<1>, Padding<1>>>;
    using Net =
        Sequential<Input<1, 8, 8>, Conv2D<2, 3, Same>, ReLU, Mixed, ReLU,
                   Add<Branch<Conv2D<9, 1>, Tanh>, Branch<>>, GlobalAvgPool, Flatten, Dense<3>>;
    static_assert(Net::layer_count == 8);
    static_assert(std::is_same_v<Net::out_shape, Shape<3>>);
    static_assert(Net::param_count ==
                  (2 * 9 + 2) + (4 * 2 + 4) + (3 * 18 + 3) + 6 + (9 * 9 + 9) + (3 * 9 + 3));
    std::vector<std::string> names;
    for (const ParamEntry& e : parameter_table<Net>()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.0.0.weight", "2.0.0.bias",
                                            "2.1.0.weight", "2.1.0.bias", "2.1.1.weight",
                                            "2.1.1.bias", "4.0.0.weight", "4.0.0.bias", "7.weight",
                                            "7.bias"});
    std::vector<std::string> buffers;
    for (const BufferEntry& e : buffer_table<Net>()) buffers.push_back(e.name);
    CHECK(buffers == std::vector<std::string>{"2.1.1.running_mean", "2.1.1.running_var",
                                              "2.1.1.num_batches_tracked"});
    // A single-layer branch is named by its position: "k.weight".
    using Dual =
        Sequential<Input<3>, Add<Branch<Dense<4>, Tanh>, Dense<4>>, Concat<Dense<2>, Tanh>>;
    static_assert(std::is_same_v<Dual::out_shape, Shape<6>>);
    std::vector<std::string> dual;
    for (const ParamEntry& e : parameter_table<Dual>()) dual.push_back(e.name);
    CHECK(dual == std::vector<std::string>{"0.0.0.weight", "0.0.0.bias", "0.1.weight", "0.1.bias",
                                           "1.0.weight", "1.0.bias"});
    // Branch<...> as an element of a Sequential is a nested chain.
    using Nested = Sequential<Input<3>, Branch<Dense<4>, Tanh, Branch<Dense<2>>>>;
    std::vector<std::string> nested;
    for (const ParamEntry& e : parameter_table<Nested>()) nested.push_back(e.name);
    CHECK(nested ==
          std::vector<std::string>{"0.0.weight", "0.0.bias", "0.2.0.weight", "0.2.0.bias"});

    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("  2   Concat ") != std::string::npos);
    CHECK(d.find("= concat of the branches [9, 8, 8]") != std::string::npos);
    CHECK(d.find("  2.1.1 BatchNorm") != std::string::npos);
    CHECK(d.find("2.1.1.running_mean [3]") != std::string::npos);
    CHECK(d.find("  4.1 Branch<> (identity)") != std::string::npos);
    CHECK(d.find("= concat of the branches") != std::string::npos);
    // Hidden markers: branch starts of computed branches are not listed.
    CHECK(d.find("2.0 Branch") == std::string::npos);
}

TEST_CASE("lowering: branches read the block input, the join is a stage of its own") {
    using Net = Sequential<Input<6>, Dense<6>, Concat<Dense<4>, Branch<Dense<3>, Tanh>, Branch<>>,
                           ReLU, Dense<2>>;
    // Dense | Dense (branch 0) | Dense, Tanh (branch 1) | concat, ReLU | Dense
    static_assert(forward_stage_count<Net> == 5);
    using B0 = stage_t<Net, 1>;
    using B1 = stage_t<Net, 2>;
    using J = stage_t<Net, 3>;
    static_assert(!B0::from_input && B0::source == 0);
    static_assert(!B1::from_input && B1::source == 0); // not stage 1: the block input
    static_assert(stage_t<Net, 4>::source == 3);
    static_assert(stage_t<Net, 0>::from_input);
    static_assert(J::kind == LayerKind::add && J::out_size == 13 && J::epilogue::size == 1);
    using A = J::anchor;
    static_assert(A::op == JoinOp::concat && A::source == 0 && A::branch_count == 3);
    static_assert(A::computed == 2 && A::first_computed == 0 && A::last_computed == 1);
    using Br = A::branches;
    using S0 = ctnn::detail::stage_at<Br, 0>;
    using S1 = ctnn::detail::stage_at<Br, 1>;
    using S2 = ctnn::detail::stage_at<Br, 2>;
    static_assert(S0::first == 1 && S0::last == 1 && S0::size == 4 && S0::offset == 0);
    static_assert(S1::first == 2 && S1::last == 2 && S1::size == 3 && S1::offset == 4);
    static_assert(S2::identity && S2::size == 6 && S2::offset == 7);
    // Kept during backward: branch 0's gradient (4) and the source's accumulator (6).
    static_assert(A::acc_offset == 4 && A::kept == 10);
    static_assert(workspace_plan<stages_of<Net>>::skip_grad_per_sample == 10);

    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("stage 3: concat   stage 1 | stage 2 | skip from stage 0") != std::string::npos);
    CHECK(d.find("its slice of dZ into stage 2 (branch 1), its slice of dZ kept for stage 1 "
                 "(branch 0), its slice of dZ kept for the skip (added after stage 1)") !=
          std::string::npos);
    CHECK(d.find("stage 2: dZ = dY * epilogue'(Z); dW = dZ^T X (gemm), db = sum(dZ), dX = dZ W "
                 "(gemm); dX kept for stage 0 (join at stage 3)") != std::string::npos);
    CHECK(d.find("+ the gradients kept for stage 0 (join at stage 3)") != std::string::npos);

    // A block at the start reads the model input; its branches propagate nothing.
    using First = Sequential<Input<4>, Add<Dense<3>, Branch<Dense<3>, Tanh>>, Dense<2>>;
    static_assert(stage_t<First, 0>::from_input && stage_t<First, 1>::from_input);
    // Branch 0's gradient is kept, and room for the model input's accumulator (written only by
    // a pass to the input: Model::input_gradient).
    static_assert(stage_t<First, 2>::anchor::from_input &&
                  stage_t<First, 2>::anchor::kept == 3 + 4);
    static_assert(!gradient_flow<stages_of<First>>::input_grad[0] &&
                  gradient_flow<stages_of<First>, true>::input_grad[0]);
    CHECK(describe<First>().find("stage 1: dZ = dY * epilogue'(Z); dW = dZ^T X (gemm), db = "
                                 "sum(dZ)\n") != std::string::npos);
}

TEST_CASE("Add and Concat forward: the hand-computed composition") {
    // Concat<Dense<2>, Branch<>, Tanh>: [W x + b, x, tanh(x)]; Add: their sum.
    using Cat = Sequential<Input<2>, Concat<Dense<2>, Branch<>, Tanh>>;
    using Sum = Sequential<Input<2>, Add<Dense<2>, Branch<>, Tanh>, Sigmoid>;
    static_assert(std::is_same_v<Cat::out_shape, Shape<6>>);
    Model<Cat> cat;
    Model<Sum> sum;
    const float w[] = {1, 2, 3, 4, 0.5f, -1}; // W = [[1, 2], [3, 4]], b = [0.5, -1]
    std::copy(std::begin(w), std::end(w), cat.parameters().begin());
    std::copy(std::begin(w), std::end(w), sum.parameters().begin());
    const std::vector<float> x{1, -1, 0.5f, 2}; // two samples
    const auto yc = cat.forward(x, 2);
    const auto ys = sum.forward(x, 2);
    for (std::size_t b = 0; b < 2; ++b) {
        const float x0 = x[2 * b], x1 = x[2 * b + 1];
        const float d0 = x0 + 2 * x1 + 0.5f, d1 = 3 * x0 + 4 * x1 - 1;
        const float want[] = {d0, d1, x0, x1, std::tanh(x0), std::tanh(x1)};
        for (std::size_t j = 0; j < 6; ++j) CHECK(yc[6 * b + j] == doctest::Approx(want[j]));
        auto sig = [](float v) { return 1 / (1 + std::exp(-v)); };
        CHECK(ys[2 * b] == doctest::Approx(sig(d0 + x0 + std::tanh(x0))));
        CHECK(ys[2 * b + 1] == doctest::Approx(sig(d1 + x1 + std::tanh(x1))));
    }

    // Concat of [C, H, W] maps joins channels: [1, 2, 2] -> [2 + 1, 2, 2].
    using Img = Sequential<Input<1, 2, 2>, Concat<Conv2D<2, 1>, Branch<>>>;
    static_assert(std::is_same_v<Img::out_shape, Shape<3, 2, 2>>);
    Model<Img> img;
    const float cw[] = {2, -1, 0.25f, 1}; // weights [2, -1], biases [0.25, 1]
    std::copy(std::begin(cw), std::end(cw), img.parameters().begin());
    const std::vector<float> xi{1, 2, 3, 4, -1, -2, -3, -4};
    const auto yi = img.forward(xi, 2);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t p = 0; p < 4; ++p) {
            const float v = xi[4 * b + p];
            CHECK(yi[12 * b + p] == doctest::Approx(2 * v + 0.25f));
            CHECK(yi[12 * b + 4 + p] == doctest::Approx(-v + 1));
            CHECK(yi[12 * b + 8 + p] == doctest::Approx(v));
        }
}

TEST_CASE("gradient check: Add and Concat of dense branches, 1-D features, three branches") {
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Add<Branch<Dense<4>, Tanh>, Dense<4>>, Dense<2>>>(
        loss::MSE{}, 3, 400);
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Tanh, Concat<Branch<Dense<3>, Tanh>, Dense<2>, Branch<>>,
                   Sigmoid, Dense<2>>>(loss::MSE{}, 3, 401);
    check_parameter_gradients<
        Sequential<Input<4>, Dense<5>, Concat<Dense<3>, Branch<Dense<2>, SiLU, Dense<4>>, Dense<1>>,
                   Tanh, Dense<3>>>(loss::SoftmaxCrossEntropy{}, 4, 402);
}

TEST_CASE("gradient check: identity branches, elementwise branches, blocks at the model input") {
    // Two identities and a body; branches that are only elementwise (stages without anchor).
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Sigmoid,
                   Add<Branch<>, Branch<Dense<4>, Tanh>, Branch<>, Tanh>, Dense<2>>>(loss::MSE{}, 3,
                                                                                     410);
    check_parameter_gradients<Sequential<Input<5>, Dense<4>, Concat<Branch<>, Branch<>>, Dense<3>,
                                         Add<Tanh, Sigmoid>, Dense<2>>>(loss::MSE{}, 3, 411);
    // Branches reading the model input compute no input gradient.
    check_parameter_gradients<
        Sequential<Input<4>, Concat<Dense<3>, Branch<Dense<2>, Tanh>, Branch<>>, Dense<2>>>(
        loss::MSE{}, 3, 412);
    check_parameter_gradients<Sequential<Input<4>, Add<Branch<>, Dense<4>, Tanh>, Tanh, Dense<2>>>(
        loss::MSE{}, 3, 413);
}

TEST_CASE("gradient check: nested blocks (Concat in a Residual, Add in a Branch)") {
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Residual<Concat<Dense<2>, Branch<Dense<2>, Tanh>>, Dense<4>>,
                   Dense<2>>>(loss::MSE{}, 3, 420);
    check_parameter_gradients<
        Sequential<Input<5>, Dense<4>, Tanh,
                   Concat<Branch<Add<Branch<>, Dense<4>>, Tanh>, Dense<3>,
                          Branch<Dense<4>, Add<Branch<>, Branch<Tanh>, Dense<4>>>>,
                   Dense<2>>>(loss::MSE{}, 3, 421);
    // Blocks in a row and a block right after a join.
    check_parameter_gradients<
        Sequential<Input<4>, Add<Dense<4>, Branch<Dense<4>, Tanh>>, Concat<Dense<2>, Branch<>>,
                   ReLU, Add<Branch<>, Branch<Dense<6>, Dropout<0.3f>, Tanh>>, Dense<2>>>(
        loss::MSE{}, 4, 422);
}

TEST_CASE("gradient check: convolutional branches (Inception-style Concat, Add, BatchNorm)") {
    check_parameter_gradients<
        Sequential<Input<2, 5, 5>, Conv2D<3, 3, Same>, Tanh,
                   Concat<Branch<Conv2D<2, 1>, Tanh>, Branch<Conv2D<2, 3, Same>, SiLU>,
                          MaxPool2D<3, Stride<1>, Padding<1>>, AvgPool2D<3, Stride<1>, Padding<1>>>,
                   Tanh, GlobalAvgPool, Flatten, Dense<2>>>(loss::MSE{}, 2, 430);
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, Tanh,
                   Add<Branch<Conv2D<3, 3, Same, NoBias>, BatchNorm, Tanh>, Conv2D<3, 1>, Branch<>>,
                   SiLU, MaxPool2D<2>, Flatten, Dense<2>>>(loss::MSE{}, 3, 431);
}

TEST_CASE("gradient check: BatchNorm first in a branch, in training and in inference") {
    // The BatchNorm reads the block's source (stage 0), not the stage before it (branch 0's
    // convolution, whose epilogue is empty): it must not be folded into that stage in inference.
    using Second =
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>,
                   Concat<Conv2D<2, 1, NoBias>, Branch<BatchNorm, Tanh>>, Tanh, Flatten, Dense<2>>;
    static_assert(!folds_into_previous<stages_of<Second>, 2>);
    check_parameter_gradients<Second>(loss::MSE{}, 3, 440);
    check_parameter_gradients<Second>(loss::MSE{}, 3, 441, 1e-6, 1e-6, Mode::inference);
    // First in branch 0: it does read the stage before it, whose output branch 1 reads too.
    using First =
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>,
                   Concat<Branch<BatchNorm, Tanh>, Conv2D<2, 1>>, Tanh, Flatten, Dense<2>>;
    check_parameter_gradients<First>(loss::MSE{}, 3, 442);
    check_parameter_gradients<First>(loss::MSE{}, 3, 443, 1e-6, 1e-6, Mode::inference);
}

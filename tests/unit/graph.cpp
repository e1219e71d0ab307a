// Graph forms: Residual (skip connections) — shapes and names, lowering, forward by hand, and the
// backward pass of every arrangement against finite differences.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

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

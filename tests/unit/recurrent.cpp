// Recurrent layers (RNN, LSTM, GRU): shapes and parameter layouts, backward through time against
// finite differences in double for every cell and option, and outputs and gradients against
// PyTorch's torch.nn.RNN / LSTM / GRU (reference values made by tests/reference/recurrent.py).
// Embedding, a Dense at every step, step pooling and Bidirectional: sequence_layers.cpp.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;

TEST_CASE("recurrent layers: shapes, names and PyTorch's parameter layouts") {
    using Net = Sequential<Input<5, 3>, LSTM<4, ReturnSequences>, GRU<6>, Dense<2>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<2>>);
    static_assert(Net::param_count == 16 * (3 + 4 + 2) + 18 * (4 + 6 + 2) + 6 * 2 + 2);
    const auto t = parameter_table<Net>();
    REQUIRE(t.size() == 10);
    CHECK(t[0].name == "0.weight_ih_l0");
    CHECK(t[0].spec.dims[0] == 16);
    CHECK(t[0].spec.dims[1] == 3);
    CHECK(t[1].name == "0.weight_hh_l0");
    CHECK(t[1].spec.dims[1] == 4);
    CHECK(t[2].name == "0.bias_ih_l0");
    CHECK(t[3].name == "0.bias_hh_l0");
    CHECK(t[4].name == "1.weight_ih_l0");
    CHECK(t[4].spec.dims[0] == 18);
    CHECK(t[4].spec.dims[1] == 4);
    CHECK(t[8].name == "2.weight");
    using Seq = Sequential<Input<7, 2>, RNN<3, ReLU, ReturnSequences>>;
    static_assert(std::is_same_v<Seq::out_shape, Shape<7, 3>>);
    CHECK(RNN<3, ReLU, ReturnSequences>::name() == "RNN<3, ReLU, ReturnSequences>");
    CHECK(LSTM<128>::name() == "LSTM<128>");
    CHECK(GRU<8, ReturnSequences>::name() == "GRU<8, ReturnSequences>");
    CHECK(RNN<3, Tanh>::cell == RecurrentCell::rnn_tanh);
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("stage 0: recurrent LSTM<4, ReturnSequences> [5, 3] -> [5, 4]") !=
          std::string::npos);
    CHECK(d.find("stage 1: recurrent GRU<6>") != std::string::npos);
    CHECK(d.find("backward through time") != std::string::npos);
}

TEST_CASE("recurrent layers start as PyTorch's: U(-1/sqrt(H), 1/sqrt(H)), biases too") {
    Model<Sequential<Input<4, 3>, LSTM<16>>> m;
    m.init(3, Init::kaiming_normal); // the scheme does not apply to recurrent tensors
    const auto p = m.parameters();
    float lo = 1, hi = -1;
    for (float v : p) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(hi <= 0.25f);
    CHECK(lo >= -0.25f);
    CHECK(hi > 0.24f); // 1344 draws come close to the bound
    CHECK(lo < -0.24f);
    CHECK(p[p.size() - 1] != 0.0f); // bias_hh_l0 is drawn, not zero
}

TEST_CASE("gradient check: LSTM, last state and every step") {
    check_parameter_gradients<Sequential<Input<4, 3>, LSTM<5>, Dense<2>>>(loss::MSE{}, 3, 1);
    check_parameter_gradients<Sequential<Input<4, 3>, LSTM<5, ReturnSequences>, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 2);
    check_parameter_gradients<Sequential<Input<1, 3>, LSTM<2>>>(loss::MSE{}, 2, 3);
}

TEST_CASE("gradient check: GRU, last state and every step") {
    check_parameter_gradients<Sequential<Input<4, 3>, GRU<5>, Dense<2>>>(loss::MSE{}, 3, 4);
    check_parameter_gradients<Sequential<Input<4, 3>, GRU<5, ReturnSequences>, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 5);
    check_parameter_gradients<Sequential<Input<1, 3>, GRU<2>>>(loss::MSE{}, 2, 6);
}

TEST_CASE("gradient check: RNN with tanh and relu") {
    check_parameter_gradients<Sequential<Input<4, 3>, RNN<5>, Dense<2>>>(loss::MSE{}, 3, 7);
    check_parameter_gradients<
        Sequential<Input<4, 3>, RNN<5, ReLU, ReturnSequences>, Flatten, Dense<2>>>(loss::MSE{}, 3,
                                                                                   8);
}

TEST_CASE("gradient check: stacked recurrent layers, an epilogue, a layer before them") {
    check_parameter_gradients<Sequential<Input<5, 2>, LSTM<4, ReturnSequences>,
                                         GRU<3, ReturnSequences>, RNN<3>, Dense<2>>>(loss::MSE{}, 2,
                                                                                     9);
    check_parameter_gradients<Sequential<Input<6>, Dense<8>, Tanh, Reshape<4, 2>,
                                         GRU<3, ReturnSequences>, Tanh, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 10);
    check_parameter_gradients<Sequential<Input<4, 3>, LSTM<6>, ReLU, Dense<3>, LogSoftmax>>(
        loss::NLLLoss{}, 4, 11);
}

namespace {

std::filesystem::path reference_dir() {
    const char* dir = std::getenv("CTNN_TEST_REFERENCE_DIR");
    REQUIRE_MESSAGE(dir != nullptr, "CTNN_TEST_REFERENCE_DIR is not set (ctest sets it)");
    return std::filesystem::path(dir) / "recurrent";
}

/// Largest |a - b| / max(1, |b|) over two equally long sequences.
template <class A>
double worst_error(const A& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (std::size_t i = 0; i < b.size(); ++i)
        worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) /
                                    std::max(1.0, std::fabs(double(b[i]))));
    return worst;
}

/// Loads PyTorch's module `name` (tests/reference/recurrent.py) into Model<Sequential<Input<5,
/// 4>, L>, T> and compares the output, the loss's parameter gradients and its input gradient
/// with PyTorch's (computed in double, stored as float32).
template <class L, class T>
void check_against_pytorch(const std::string& name, double tolerance) {
    using Net = Sequential<Input<5, 4>, L>;
    CAPTURE(name);
    Model<Net, T> m(device::cpu());
    m.load(reference_dir() / (name + ".safetensors"));
    const io::SafetensorsFile ref =
        io::load_safetensors(reference_dir() / (name + ".ref.safetensors"));
    auto get = [&](const std::string& n) -> const std::vector<float>& {
        const io::Tensor* t = ref.find(n);
        REQUIRE_MESSAGE(t != nullptr, n);
        return t->data;
    };
    const std::vector<T> x(get("x").begin(), get("x").end());
    const std::vector<T> t(get("t").begin(), get("t").end());
    const loss::Targets<T> targets{{}, t};
    const auto y = m.forward(x, Mode::training);
    CHECK(worst_error(y, get("y")) <= tolerance);
    m.loss(loss::MSE{}, targets);
    m.backward();
    const auto g = m.gradients();
    for (const auto& e : parameter_table<Net>()) {
        CAPTURE(e.name);
        CHECK(worst_error(g.subspan(e.offset, e.size), get("grad." + e.name)) <= tolerance);
    }
    CHECK(worst_error(m.input_gradient(x, loss::MSE{}, targets), get("grad.x")) <= tolerance);
}

template <class L>
void check_against_pytorch(const std::string& name) {
    // The references are PyTorch's double values rounded to float (a relative 6e-8): ctnn in
    // double agrees to that rounding (measured: at most 3e-8), in float to 1.2e-7.
    check_against_pytorch<L, double>(name, 1e-7);
    check_against_pytorch<L, float>(name, 1e-6);
}

} // namespace

TEST_CASE("LSTM, GRU and RNN load PyTorch's parameters and match its outputs and gradients") {
    check_against_pytorch<LSTM<6>>("lstm_last");
    check_against_pytorch<LSTM<6, ReturnSequences>>("lstm_seq");
    check_against_pytorch<GRU<6>>("gru_last");
    check_against_pytorch<GRU<6, ReturnSequences>>("gru_seq");
    check_against_pytorch<RNN<6>>("rnn_tanh_last");
    check_against_pytorch<RNN<6, ReLU, ReturnSequences>>("rnn_relu_seq");
    check_against_pytorch<Bidirectional<LSTM<6>>>("bilstm_last");
    check_against_pytorch<Bidirectional<GRU<6, ReturnSequences>>>("bigru_seq");
}

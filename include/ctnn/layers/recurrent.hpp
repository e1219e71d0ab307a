// ctnn/layers/recurrent.hpp — RNN<H>, LSTM<H>, GRU<H>: recurrent layers over a sequence.
//
// A sequence is a sample of rank 2, [steps, features] row-major (PyTorch's batch_first layout:
// a batch is [B, T, F]); an image [1, 28, 28] becomes 28 steps of 28 features with
// Reshape<28, 28>. A recurrent layer reads [T, F] and returns the last hidden state [H] or, with
// the option ReturnSequences, every step's [T, H], which the next recurrent layer reads (stacking
// is writing them in sequence). The initial state is zero.
//
// Parameters have torch.nn.RNN / LSTM / GRU's names, layouts and gate orders, so that a PyTorch
// checkpoint of a one-layer module (batch_first or not: the layout of the weights is the same)
// loads as it is: `weight_ih_l0` [G H, F], `weight_hh_l0` [G H, H], `bias_ih_l0` [G H],
// `bias_hh_l0` [G H], G = 1 (RNN), 4 (LSTM: gates i, f, g, o), 3 (GRU: r, z, n with PyTorch's
// n = tanh(W_in x + b_in + r * (W_hn h + b_hn))). They start as PyTorch's do: every tensor
// U(-1/sqrt(H), 1/sqrt(H)), whatever the model's Init scheme (ParamRole::recurrent).
#pragma once
#include "activation.hpp"
#include "layer.hpp"

#include <type_traits>

namespace ctnn {

/// Option of RNN, LSTM and GRU: return the hidden state of every step, [T, H], rather than the
/// last one, [H] (PyTorch's output rather than h_n; Keras's return_sequences=True).
struct ReturnSequences {};

/// The cell a recurrent layer runs at each step.
enum class RecurrentCell {
    rnn_tanh, ///< h = tanh(W_ih x + b_ih + W_hh h + b_hh)
    rnn_relu, ///< h = relu(W_ih x + b_ih + W_hh h + b_hh)
    lstm,     ///< gates i, f, g, o; c = f c + i g; h = o tanh(c)
    gru,      ///< gates r, z, n; h = (1 - z) n + z h
};

namespace detail {

/// Gate blocks of H rows in the weights of a cell.
constexpr std::size_t cell_gates(RecurrentCell c) {
    return c == RecurrentCell::lstm ? 4 : c == RecurrentCell::gru ? 3 : 1;
}

template <class O>
inline constexpr bool is_return_sequences = std::is_same_v<O, ReturnSequences>;

/// What every recurrent layer shares: Cell, H hidden units, Opts (ReturnSequences at most once).
/// Who names the layer in the static_asserts.
template <RecurrentCell Cell, std::size_t H, bool Sequences, std::size_t Directions = 1>
struct RecurrentBase {
    static_assert(H > 0, "a recurrent layer needs at least one hidden unit");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::recurrent;
    static constexpr RecurrentCell cell = Cell;
    static constexpr std::size_t hidden = H;
    static constexpr std::size_t gates = cell_gates(Cell);
    /// The layer returns every step's hidden state (ReturnSequences), not only the last.
    static constexpr bool sequences = Sequences;
    /// 2 for Bidirectional: a second cell reads the sequence from its last step to its first.
    static constexpr std::size_t directions = Directions;

    static std::string name() {
        if constexpr (Directions == 2) return "Bidirectional<" + cell_name() + ">";
        else return cell_name();
    }
    static std::string cell_name() {
        const char* c = Cell == RecurrentCell::lstm  ? "LSTM<"
                        : Cell == RecurrentCell::gru ? "GRU<"
                                                     : "RNN<";
        return std::string(c) + std::to_string(H) +
               (Cell == RecurrentCell::rnn_relu ? ", ReLU" : "") +
               (Sequences ? ", ReturnSequences" : "") + ">";
    }

    template <class In>
    struct bind {
        static_assert(In::rank == 2,
                      "RNN, LSTM and GRU read a sequence [steps, features]: give the model "
                      "Input<T, F>, or put Reshape<T, F> before the layer");
        static constexpr std::size_t steps = In::dims[0];
        static constexpr std::size_t features = In::dims[In::rank - 1];
        static constexpr std::size_t hidden = H;
        static constexpr RecurrentCell cell = Cell;
        /// Values of one step of the output: both directions' states, concatenated.
        static constexpr std::size_t out_features = Directions * H;
        using out_shape =
            std::conditional_t<Sequences, Shape<steps, out_features>, Shape<out_features>>;
        static constexpr std::size_t gate_rows = gates * H;
        /// Parameters of one direction; the reverse direction's follow the forward's.
        static constexpr std::size_t direction_params = gate_rows * (features + H + 2);
        static constexpr std::size_t param_count = Directions * direction_params;
        static constexpr auto params = [] {
            // PyTorch's order: the forward cell's four tensors, then the reverse cell's.
            constexpr const char* names[8] = {"weight_ih_l0",         "weight_hh_l0",
                                              "bias_ih_l0",           "bias_hh_l0",
                                              "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                              "bias_ih_l0_reverse",   "bias_hh_l0_reverse"};
            constexpr std::size_t cols[4] = {features, H, 0, 0}; // 0: a bias, rank 1
            std::array<ParamSpec, 4 * Directions> p{};
            for (std::size_t k = 0; k < p.size(); ++k)
                p[k] = ParamSpec{names[k],
                                 cols[k % 4] ? 2u : 1u,
                                 {gate_rows, cols[k % 4], 0, 0},
                                 ParamRole::recurrent,
                                 H,
                                 H};
            return p;
        }();

        // Workspace per sample (graph/lowering.hpp adds it to the stage's), time-major (step t
        // of sample b at t * batch + b) so that one step of the batch is one contiguous matrix.
        // Kept from forward to backward: the input (T F), the gates after their nonlinearities
        // (T G H), the hidden states (T H), LSTM's cells (T H), GRU's W_hn h + b_hn (T H).
        // Backward only: the gate gradients (T G H, twice for GRU whose input and recurrent
        // parts differ in n), the running gradients of h and c (2 H) and, for a masked sequence
        // (MaskZero), those two kept across a padded step (2 H).
        static constexpr std::size_t cell_state =
            Cell == RecurrentCell::lstm || Cell == RecurrentCell::gru ? steps * H : 0;
        static constexpr std::size_t kept_per_sample =
            steps * (features + gate_rows + H) + cell_state;
        static constexpr std::size_t scratch_per_sample =
            steps * gate_rows * (Cell == RecurrentCell::gru ? 2 : 1) + 4 * H;
        /// One direction's workspace; the reverse direction's follows the forward's.
        static constexpr std::size_t direction_workspace = kept_per_sample + scratch_per_sample;
        static constexpr std::size_t workspace_per_sample = Directions * direction_workspace;
    };
};

} // namespace detail

/// Long short-term memory (torch.nn.LSTM, one layer, batch_first): input [T, F]; output the last
/// hidden state [H], or [T, H] with ReturnSequences.
template <std::size_t H, class... Opts>
struct LSTM
    : detail::RecurrentBase<RecurrentCell::lstm, H, (detail::is_return_sequences<Opts> || ...)> {
    static_assert((detail::is_return_sequences<Opts> && ...),
                  "LSTM's only option is ReturnSequences");
    static_assert(sizeof...(Opts) <= 1, "LSTM: give ReturnSequences at most once");
};

/// Gated recurrent unit (torch.nn.GRU, one layer, batch_first): input [T, F]; output [H], or
/// [T, H] with ReturnSequences.
template <std::size_t H, class... Opts>
struct GRU
    : detail::RecurrentBase<RecurrentCell::gru, H, (detail::is_return_sequences<Opts> || ...)> {
    static_assert((detail::is_return_sequences<Opts> && ...),
                  "GRU's only option is ReturnSequences");
    static_assert(sizeof...(Opts) <= 1, "GRU: give ReturnSequences at most once");
};

namespace detail {
template <class O>
inline constexpr bool rnn_option =
    is_return_sequences<O> || std::is_same_v<O, ReLU> || std::is_same_v<O, Tanh>;
} // namespace detail

/// Elman recurrent layer (torch.nn.RNN, one layer, batch_first): h = tanh(W_ih x + b_ih + W_hh h
/// + b_hh), or relu with the option ReLU. Input [T, F]; output [H], or [T, H] with
/// ReturnSequences.
template <std::size_t H, class... Opts>
struct RNN : detail::RecurrentBase<(std::is_same_v<Opts, ReLU> || ...) ? RecurrentCell::rnn_relu
                                                                       : RecurrentCell::rnn_tanh,
                                   H, (detail::is_return_sequences<Opts> || ...)> {
    static_assert((detail::rnn_option<Opts> && ...),
                  "RNN's options are ReLU or Tanh (the nonlinearity; Tanh by default) and "
                  "ReturnSequences");
    static_assert((std::is_same_v<Opts, ReLU> + ... + 0) + (std::is_same_v<Opts, Tanh> + ... + 0) <=
                      1,
                  "RNN: give one nonlinearity, ReLU or Tanh");
    static_assert((detail::is_return_sequences<Opts> + ... + 0) <= 1,
                  "RNN: give ReturnSequences at most once");
};

namespace detail {
template <class L>
inline constexpr bool always_false = false;
template <class L, class = void>
struct bidirectional_of {
    static_assert(always_false<L>,
                  "Bidirectional wraps one RNN, LSTM or GRU, e.g. Bidirectional<LSTM<64>>");
    using type = RecurrentBase<RecurrentCell::lstm, 1, false, 2>;
};
template <class L>
struct bidirectional_of<L, std::enable_if_t<Layer<L> && L::kind == LayerKind::recurrent>> {
    static_assert(L::directions == 1, "Bidirectional<Bidirectional<...>> is not a layer");
    using type = RecurrentBase<L::cell, L::hidden, L::sequences, 2>;
};
} // namespace detail

/// Both directions of a recurrent layer L (RNN, LSTM or GRU, with its options), PyTorch's
/// bidirectional=True: a second cell with parameters of its own (named `..._reverse`) reads the
/// sequence from its last step to its first. Each step's output is [forward state, reverse
/// state], [T, 2H] with ReturnSequences; without it, [2H]: the forward cell's last state and the
/// reverse cell's state after reading the whole sequence (its state at step 0; PyTorch's h_n).
template <class L>
struct Bidirectional : detail::bidirectional_of<L>::type {};

} // namespace ctnn

// ctnn/layers/sequence.hpp — LastStep and MeanOverSteps: a sequence [T, F] to one vector [F].
//
// What a model does after a recurrent layer with ReturnSequences (or a Dense applied at every
// step) to classify the whole sequence: keep the last step, or average the steps (Keras's
// GlobalAveragePooling1D over the batch_first layout).
#pragma once
#include "layer.hpp"

namespace ctnn {

/// How a sequence pooling layer reduces the steps.
enum class StepPool {
    last, ///< the last step's values
    mean, ///< the mean over the steps
};

namespace detail {
template <StepPool P>
struct SequencePool {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::step_pool;
    static constexpr StepPool op = P;
    static std::string name() { return P == StepPool::last ? "LastStep" : "MeanOverSteps"; }

    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 2, "LastStep and MeanOverSteps read a sequence [steps, "
                                     "features]: give them Input<T, F> or a layer's sequence");
        static constexpr std::size_t steps = In::dims[0];
        static constexpr std::size_t features = In::dims[In::rank - 1];
        using out_shape = Shape<features>;
    };
};
} // namespace detail

/// The last step of a sequence: [T, F] -> [F].
struct LastStep : detail::SequencePool<StepPool::last> {};
/// The mean over the steps of a sequence: [T, F] -> [F].
struct MeanOverSteps : detail::SequencePool<StepPool::mean> {};

} // namespace ctnn

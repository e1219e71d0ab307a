// ctnn/expr/context.hpp — what an elementwise epilogue op may know besides its input value.
#pragma once
#include "../config.hpp"

#include <cstdint>

namespace ctnn {

/// Per-element context handed to epilogue ops. Random ops (Dropout) draw from the counter-based
/// stream (seed, step, layer) at position `index`, so forward and backward see the same mask and
/// every backend draws the same numbers.
struct ElemCtx {
    std::uint64_t seed = 0;  ///< model seed
    std::uint64_t step = 0;  ///< training step (a new mask per step)
    std::uint64_t index = 0; ///< element index within the batch tensor: sample * width + feature
    /// The batch position of the executor's sample 0 (nonzero when a batch is split between
    /// threads, cpu::BatchParallel): Epilogue::apply adds sample0 * width to `index`, so every
    /// part draws the numbers one pass over the whole batch would draw.
    std::uint64_t sample0 = 0;
    std::uint32_t layer = 0; ///< index of the op's layer in the model
    bool training = false;   ///< training mode (Dropout active) or inference
};

} // namespace ctnn

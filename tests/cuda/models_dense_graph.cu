// Models compiled by nvcc (tests/cuda/models.cu): Dense + BatchNorm folds, LayerNorm, joins of
// Dense branches.
#include "models.cuh"

namespace models {
namespace {

// Dense + BatchNorm pairs, which an inference pass folds into the GEMM store (with and without
// bias, BatchNorm with and without an epilogue).
using DenseFoldNet =
    Sequential<Input<12>, Dense<16>, BatchNorm, ReLU, Dense<8, NoBias>, BatchNorm, Dense<3>>;
using NormNet = Sequential<Input<12>, Dense<16>, ReLU, BatchNormWith<0.05f, 1e-4f>, Dense<8>,
                           LayerNorm, Tanh, Dense<3>>;
using TwoBranchNet =
    Sequential<Input<5>, Dense<6>, Tanh, Add<Branch<Dense<6>, ReLU>, Branch<Dense<6>, Sigmoid>>,
               Add<Branch<Dense<6>, GELU>, Branch<>>, Dense<3>>;
using BranchNet =
    Sequential<Input<7>, Dense<8>, Tanh,
               Add<Branch<Add<Branch<>, Dense<8>>, ReLU>, Dense<8>, Branch<Sigmoid>, Branch<>>,
               Dropout<0.2f>, Concat<Dense<3>, Branch<Dense<2>, Tanh>>, Dense<3>>;

} // namespace

bool dense_graph_models(bool gpu) {
    bool ok = true;
    ok &= check<DenseFoldNet>("dense + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<NormNet>("batchnorm/layernorm", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<BranchNet>("add, nested", loss::MSE{}, optim::AdamW{}, gpu);
    ok &=
        check<TwoBranchNet>("add of two branches", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models

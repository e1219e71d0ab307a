// mlp_cpu: the ctnn types of workloads A, B and C (benchmarks/common/bench.hpp), shared by the
// fp32 (ctnn.cpp), int8 (ctnn_int8.cpp) and StaticModel (ctnn_static.cpp) implementations.
#pragma once
#include <ctnn/static.hpp> // the layers and Sequential, without Model

namespace bench {

using NetA = ctnn::Sequential<ctnn::Input<784>, ctnn::Dense<128>, ctnn::ReLU, ctnn::Dense<10>>;
using NetB =
    ctnn::Sequential<ctnn::Input<32>, ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<64>, ctnn::ReLU,
                     ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<16>>;
// Workload C: the network of examples/fashion_mnist_cnn.cpp.
using NetC = ctnn::Sequential<ctnn::Input<1, 28, 28>,                                          //
                              ctnn::Conv2D<32, 3, ctnn::Same>, ctnn::ReLU, ctnn::MaxPool2D<2>, //
                              ctnn::Conv2D<64, 3, ctnn::Same>, ctnn::ReLU, ctnn::MaxPool2D<2>, //
                              ctnn::Flatten, ctnn::Dense<128>, ctnn::ReLU, ctnn::Dropout<0.3f>,
                              ctnn::Dense<10>>;

} // namespace bench

// ctnn/static.hpp — what an embedded inference program includes: the layers, Sequential and
// StaticModel (no Eigen, no Model, no file IO; builds with -fno-exceptions -fno-rtti).
//
//     #include <ctnn/static.hpp>
//     #include "mlp_weights.hpp"  // made by ctnn_embed_checkpoint
//     using Net = ctnn::Sequential<ctnn::Input<784>, ctnn::Dense<128>, ctnn::ReLU,
//                                  ctnn::Dense<10>>;
//     ctnn::StaticModel<Net, 1, ctnn::EmbeddedParameters<mlp_weights>> model;
//     std::array<float, 10> y = model.predict(x);
//
// See model/static_model.hpp and docs/jetson.md, "Static inference".
#pragma once
#include "config.hpp"
#include "graph/sequential.hpp"
#include "io/embedded.hpp"
#include "layers.hpp"
#include "model/static_model.hpp"

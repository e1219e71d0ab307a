// ctnn/ctnn.hpp — the whole library: models as types, trained on the CPU (Eigen) or a GPU.
//
//     #include <ctnn/ctnn.hpp>
//     using Net = ctnn::Sequential<ctnn::Input<784>, ctnn::Dense<128>, ctnn::ReLU,
//     ctnn::Dense<10>>;
#pragma once
#include "config.hpp"

#include "backend/cuda/schedule.hpp"
#include "backend/device.hpp"
#include "core/dataset.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/init.hpp"
#include "core/precision.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/split.hpp"
#include "core/standardizer.hpp"
#include "expr/expr.hpp"
#include "graph/describe.hpp"
#include "graph/fold.hpp"
#include "graph/lowering.hpp"
#include "graph/sequential.hpp"
#include "io.hpp"
#include "layers.hpp"
#include "loss/classification.hpp"
#include "loss/regression.hpp"
#include "model.hpp"
#include "model/quantized.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "static.hpp"
#include "train/train.hpp"
